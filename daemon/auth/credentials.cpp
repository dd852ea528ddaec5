#include "credentials.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <stdexcept>

namespace taskpool::daemon::auth {

Digest sha256(std::string_view text) {
    Digest digest{};
    unsigned int size = 0;
    if (EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1 ||
        size != digest.size()) {
        throw std::runtime_error("OpenSSL could not compute a SHA-256");
    }
    return digest;
}

std::optional<Digest> digest_from_hex(std::string_view hex) {
    Digest digest{};
    if (hex.size() != 2 * digest.size()) {
        return std::nullopt;
    }
    for (std::size_t i = 0; i < digest.size(); ++i) {
        int high = OPENSSL_hexchar2int(static_cast<unsigned char>(hex[2 * i]));
        int low = OPENSSL_hexchar2int(static_cast<unsigned char>(hex[2 * i + 1]));
        if (high < 0 || low < 0) {
            return std::nullopt;
        }
        digest[i] = static_cast<unsigned char>(high << 4 | low);
    }
    return digest;
}

proto::Error forbidden(const Grant& grant, std::string_view what, Scope need) {
    return {proto::ErrorCode::forbidden, "the token '" + *grant.name + "' may not use '" +
                                             std::string(what) + "': that needs the " +
                                             std::string(to_string(need)) + " scope, and it has " +
                                             scopes_text(grant.scopes)};
}

std::optional<Grant> verify(const std::optional<std::string>& admin_token,
                            std::span<const TokenSpec> tokens, std::string_view given) {
    // Compared as digests: of equal length whatever was given.
    Digest shown = sha256(given);
    std::optional<Grant> grant;
    if (admin_token) {
        Digest admin = sha256(*admin_token);
        if (CRYPTO_memcmp(admin.data(), shown.data(), shown.size()) == 0) {
            grant = Grant{std::string(admin_token_name), every_scope};
        }
    }
    for (const auto& token : tokens) {
        if (CRYPTO_memcmp(token.sha256.data(), shown.data(), shown.size()) == 0 && !grant) {
            grant = Grant{token.name, token.scopes};
        }
    }
    return grant;
}

}  // namespace taskpool::daemon::auth
