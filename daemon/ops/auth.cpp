#include "auth.hpp"

namespace taskpool::daemon::ops {

bool token_accepted(const Config& config, std::optional<std::string_view> given) {
    if (!config.auth.token) {
        return true;
    }
    const auto& token = *config.auth.token;
    if (!given || given->size() != token.size()) {
        return false;
    }
    unsigned char diff = 0;
    for (std::size_t i = 0; i < token.size(); ++i) {
        diff |= static_cast<unsigned char>(token[i] ^ (*given)[i]);
    }
    return diff == 0;
}

}  // namespace taskpool::daemon::ops
