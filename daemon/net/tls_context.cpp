#include "tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace taskpool::daemon::net {
namespace {

// Forward-secret AEAD suites only: TLS 1.2's, and all three of TLS 1.3's.
constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* tls13_suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

/// What OpenSSL's error queue holds, every reason of it, emptying it.
std::string openssl_errors() {
    std::string text;
    while (unsigned long e = ERR_get_error()) {
        const char* reason = ERR_reason_error_string(e);
        text += text.empty() ? "" : "; ";
        text += reason != nullptr ? reason : "error " + std::to_string(e);
    }
    return text.empty() ? "OpenSSL gave no reason" : text;
}

/// "tls.key: PATH: No such file or directory", where the file cannot be read at all.
std::optional<std::string> unreadable(const char* key, const std::string& path) {
    std::ifstream file(path);
    if (file) {
        return std::nullopt;
    }
    return std::string(key) + ": " + path + ": " + std::strerror(errno);
}

/// Whether OpenSSL took it; if not, why, naming the key and the file.
std::optional<std::string> failed(int ok, const char* key, const std::string& path) {
    if (ok == 1) {
        return std::nullopt;
    }
    return std::string(key) + ": " + path + ": " + openssl_errors();
}

}  // namespace

proto::Result<std::shared_ptr<asio::ssl::context>, std::string> make_tls_context(
    const Config::Tls& tls) {
    auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    SSL_CTX* ctx = context->native_handle();
    ERR_clear_error();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(ctx, tls12_ciphers);
    SSL_CTX_set_ciphersuites(ctx, tls13_suites);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    // A key with a passphrase must fail here, not wait for one on a terminal.
    SSL_CTX_set_default_passwd_cb(ctx, [](char*, int, int, void*) { return 0; });

    const std::string& cert = *tls.cert;
    const std::string& key = *tls.key;
    for (auto [name, path] : {std::pair{"tls.cert", &cert}, std::pair{"tls.key", &key}}) {
        if (auto why = unreadable(name, *path)) {
            return *why;
        }
    }
    if (auto why =
            failed(SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()), "tls.cert", cert)) {
        return *why;
    }
    bool key_taken = SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) == 1;
    if (!key_taken && ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
        return "tls.key: " + key + ": " + openssl_errors();
    }
    if (!key_taken || SSL_CTX_check_private_key(ctx) != 1) {
        return "tls.key: " + key + " is not the key of the certificate in tls.cert (" +
               openssl_errors() + ")";
    }
    if (tls.client_ca) {
        const std::string& ca = *tls.client_ca;
        if (auto why = unreadable("tls.client_ca", ca)) {
            return *why;
        }
        if (auto why = failed(SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr),
                              "tls.client_ca", ca)) {
            return *why;
        }
        // The CA's name goes in the certificate request, so that a client holding
        // several certificates picks one it signed.
        SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(ca.c_str()));
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
        // Required wherever client certificates are: OpenSSL refuses a resumed
        // session without it, and sessions are not cached anyway.
        static constexpr unsigned char id[] = "taskpoold";
        SSL_CTX_set_session_id_context(ctx, id, sizeof id - 1);
    }
    return context;
}

}  // namespace taskpool::daemon::net
