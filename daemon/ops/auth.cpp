#include "auth.hpp"

#include <openssl/crypto.h>

namespace taskpool::daemon::ops {

bool token_accepted(const Config& config, std::optional<std::string_view> given) {
    if (!config.auth.token) {
        return true;
    }
    const auto& token = *config.auth.token;
    // The length is no secret worth hiding; the bytes are compared in constant time.
    return given && given->size() == token.size() &&
           CRYPTO_memcmp(token.data(), given->data(), token.size()) == 0;
}

}  // namespace taskpool::daemon::ops
