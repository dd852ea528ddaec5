#include "raw_json.hpp"

#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>

#include "json_parse.hpp"
#include "json_writer.hpp"

namespace taskpool::proto {

RawJson::RawJson(std::string_view valid_text) {
    if (valid_text.size() > std::numeric_limits<std::uint32_t>::max()) {
        throw std::length_error("JSON text over 4 GiB");
    }
    void* memory = ::operator new(sizeof(Block) + valid_text.size());
    block_ = new (memory) Block{{1}, static_cast<std::uint32_t>(valid_text.size())};
    std::memcpy(static_cast<char*>(memory) + sizeof(Block), valid_text.data(), valid_text.size());
}

RawJson::RawJson(const nlohmann::json& value) {
    if (value.is_null()) {
        return;
    }
    // Written into a buffer kept by the thread, so that only the block is allocated;
    // one that a huge value grew is let go.
    constexpr std::size_t kept_capacity = 1 << 20;
    thread_local std::string text;
    text.clear();
    JsonWriter(text).value(value);
    *this = RawJson(std::string_view(text));
    if (text.capacity() > kept_capacity) {
        std::string().swap(text);
    }
}

std::optional<RawJson> RawJson::from_text(std::string_view text) {
    if (!nlohmann::json::accept(text)) {
        return std::nullopt;
    }
    return RawJson(text);
}

nlohmann::json RawJson::parse() const {
    auto value = parse_json(text());
    if (!value) {
        throw std::logic_error("RawJson holds invalid JSON: " + value.error().message);
    }
    return std::move(*value);
}

void RawJson::retain() const {
    if (block_ != nullptr) {
        block_->refs.fetch_add(1, std::memory_order_relaxed);
    }
}

void RawJson::release() const {
    // acq_rel: the last owner sees every other owner's reads done before it frees.
    if (block_ != nullptr && block_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        block_->~Block();
        ::operator delete(block_);
    }
}

}  // namespace taskpool::proto
