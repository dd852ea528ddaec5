#pragma once

#include <memory>
#include <string>

#include <asio/ssl/context.hpp>

#include "daemon/config/config.hpp"
#include "proto/result.hpp"

namespace taskpool::daemon::net {

/// The listener's TLS (PROTOCOL.md section 14): TLS 1.2 and 1.3 only, forward-secret
/// AEAD ciphers, no renegotiation and no session tickets; the certificate chain and
/// its key from `tls.cert` and `tls.key` (PEM); with `tls.client_ca`, a client must
/// present a certificate signed by it. An error names the file and what OpenSSL
/// found wrong with it.
///
/// Sessions hold the context they were made with: a SIGHUP that loads a new one
/// serves new connections with it and leaves open ones as they are.
proto::Result<std::shared_ptr<asio::ssl::context>, std::string> make_tls_context(
    const Config::Tls& tls);

}  // namespace taskpool::daemon::net
