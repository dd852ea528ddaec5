#include "progress_lines.hpp"

#include <nlohmann/json.hpp>

#include "json_parse.hpp"
#include "utf8.hpp"

namespace taskpool::proto {
namespace {

RawJson value_of(std::string_view line) {
    if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
    }
    if (auto value = compact_json(line)) {
        return std::move(*value);
    }
    return RawJson(nlohmann::json(to_valid_utf8(line)));
}

}  // namespace

std::optional<RawJson> ProgressLines::feed(std::string_view chunk) {
    std::optional<std::string> last;
    while (!chunk.empty()) {
        auto end = chunk.find('\n');
        auto part = chunk.substr(0, end);
        too_long_ = too_long_ || line_.size() + part.size() > max_line;
        if (!too_long_) {
            line_ += part;
        }
        if (end == std::string_view::npos) {
            break;
        }
        if (!too_long_ && !line_.empty()) {
            last = std::move(line_);
        }
        line_.clear();
        too_long_ = false;
        chunk.remove_prefix(end + 1);
    }
    if (!last) {
        return std::nullopt;
    }
    return value_of(*last);
}

}  // namespace taskpool::proto
