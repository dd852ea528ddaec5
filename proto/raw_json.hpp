#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

namespace simdjson::dom {
class element;
}

namespace taskpool::proto {

/// A JSON value held as its compact text: shared, immutable, in one allocation
/// with its reference count, and a pointer's size. The payloads of a job (its
/// args, its result) take this form when the request or the worker's line is
/// decoded and keep it through the queue, the journal, the channel to a worker and
/// the replies; only a task that reads fields builds a tree. A queued job keeps a
/// few dozen bytes of text rather than a document tree, and a reply copies bytes
/// rather than rendering a tree again. Copies share the text; they may be used and
/// dropped on any thread.
class RawJson {
public:
    /// null
    RawJson() = default;
    /// The value's compact text (bytes that are not UTF-8 become U+FFFD).
    explicit RawJson(const nlohmann::json& value);
    /// `text` if it is one valid JSON value, as it is (for text this daemon wrote,
    /// read back).
    static std::optional<RawJson> from_text(std::string_view text);

    RawJson(const RawJson& o) noexcept : block_(o.block_) { retain(); }
    RawJson(RawJson&& o) noexcept : block_(std::exchange(o.block_, nullptr)) {}
    RawJson& operator=(RawJson o) noexcept {
        std::swap(block_, o.block_);
        return *this;
    }
    ~RawJson() { release(); }

    std::string_view text() const {
        return block_ != nullptr ? std::string_view(block_->chars(), block_->size) : "null";
    }
    nlohmann::json parse() const;
    bool is_null() const { return block_ == nullptr; }

    friend bool operator==(const RawJson& a, const RawJson& b) { return a.text() == b.text(); }

private:
    friend RawJson raw_json(simdjson::dom::element value);

    /// The text follows the header in the same allocation.
    struct Block {
        std::atomic<std::uint32_t> refs;
        std::uint32_t size;
        const char* chars() const { return reinterpret_cast<const char*>(this + 1); }
    };

    explicit RawJson(std::string_view valid_text);
    /// What `write` appends to a JsonWriter, as one value.
    template <class Write>
    static RawJson written(Write&& write);
    void retain() const;
    void release() const;

    Block* block_ = nullptr;  // none: null
};

}  // namespace taskpool::proto
