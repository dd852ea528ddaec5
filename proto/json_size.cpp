#include "json_size.hpp"

namespace taskpool::proto {

std::size_t json_tree_bytes(const nlohmann::json& value) {
    std::size_t bytes = sizeof(nlohmann::json);
    if (value.is_string()) {
        bytes += value.get_ref<const std::string&>().size();
    } else if (value.is_object()) {
        for (auto it = value.begin(); it != value.end(); ++it) {
            bytes += it.key().size() + json_tree_bytes(*it);
        }
    } else if (value.is_array()) {
        for (const auto& item : value) {
            bytes += json_tree_bytes(item);
        }
    }
    return bytes;
}

}  // namespace taskpool::proto
