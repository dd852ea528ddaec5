#include "connection.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <utility>

#include <asio/connect.hpp>
#include <asio/post.hpp>
#include <asio/ssl/error.hpp>
#include <asio/write.hpp>

#include "proto/json_parse.hpp"

namespace taskpool {
namespace {

using nlohmann::json;

ClientError connection_error(std::string message) {
    return {ClientError::Kind::connection, std::nullopt, std::move(message)};
}

/// An address taken apart: tls://HOST:PORT, tcp://HOST:PORT or HOST:PORT, with an
/// IPv6 host in brackets.
struct Address {
    std::string host;
    std::string port;
    bool tls = false;
};

std::optional<Address> parse_address(std::string_view text) {
    Address out;
    if (text.starts_with("tls://")) {
        out.tls = true;
        text.remove_prefix(6);
    } else if (text.starts_with("tcp://")) {
        text.remove_prefix(6);
    }
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
        return std::nullopt;
    }
    auto host = text.substr(0, colon);
    if (host.starts_with('[') && host.ends_with(']')) {
        host = host.substr(1, host.size() - 2);
    }
    out.host = host;
    out.port = text.substr(colon + 1);
    return out;
}

/// OpenSSL's reason for an error of its own ("certificate verify failed"), or the
/// system's message for any other.
std::string reason(const std::error_code& ec) {
    if (ec.category() == asio::error::get_ssl_category()) {
        if (const char* text = ERR_reason_error_string(static_cast<unsigned long>(ec.value()))) {
            return text;
        }
    }
    return ec.message();
}

/// Why OpenSSL last failed, emptying its error queue.
std::string openssl_reason() {
    const char* text = ERR_reason_error_string(ERR_get_error());
    ERR_clear_error();
    return text != nullptr ? text : "OpenSSL gave no reason";
}

/// "CA file: PATH: No such file or directory" where a file cannot be read at all.
std::optional<ClientError> unreadable(const char* what, const std::string& path) {
    if (std::ifstream(path)) {
        return std::nullopt;
    }
    return connection_error(std::string(what) + ": " + path + ": " + std::strerror(errno));
}

std::string rfc2253(const X509_NAME* name) {
    BIO* bio = BIO_new(BIO_s_mem());
    X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
    char* data = nullptr;
    auto size = static_cast<std::size_t>(BIO_get_mem_data(bio, &data));
    std::string text(data, size);
    BIO_free(bio);
    return text;
}

std::string rfc3339(const ASN1_TIME* time) {
    std::tm tm{};
    if (ASN1_TIME_to_tm(time, &tm) != 1) {
        return {};
    }
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return text;
}

/// Where an SSL object keeps the flag the callback below sets (Asio keeps its own
/// pointer in the object's app data).
int requested_flag_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

/// Called only when the daemon asks for a client certificate and none was given:
/// noted, so that the refusal that follows can say what is missing.
int no_client_certificate(SSL* ssl, X509**, EVP_PKEY**) {
    *static_cast<bool*>(SSL_get_ex_data(ssl, requested_flag_index())) = true;
    return 0;  // send none
}

}  // namespace

ClientResult<std::unique_ptr<Client::Connection>> Client::Connection::open(
    const std::string& address, const ConnectOptions& options,
    std::optional<Clock::time_point> deadline) {
    auto parsed = parse_address(address);
    if (!parsed) {
        return connection_error("the address '" + address +
                                "' is not HOST:PORT (or tls://HOST:PORT)");
    }
    auto conn = std::make_unique<Connection>();
    std::error_code ec;
    asio::ip::tcp::resolver resolver(conn->io_);
    auto endpoints = resolver.resolve(parsed->host, parsed->port, ec);
    if (!ec) {
        asio::connect(conn->socket_, endpoints, ec);
    }
    if (ec) {
        return connection_error("cannot connect to " + address + ": " + ec.message());
    }
    conn->socket_.set_option(asio::ip::tcp::no_delay(true), ec);
    bool tls = parsed->tls || options.tls || !options.ca_file.empty() ||
               !options.cert_file.empty() || !options.key_file.empty();
    if (tls) {
        if (auto started = conn->start_tls(parsed->host, options, deadline); !started) {
            auto error = started.error();
            error.message = "TLS with " + address + ": " + error.message;
            return error;
        }
    }
    return conn;
}

ClientResult<void> Client::Connection::start_tls(const std::string& host,
                                                 const ConnectOptions& options,
                                                 std::optional<Clock::time_point> deadline) {
    auto& context = tls_context_.emplace(asio::ssl::context::tls_client);
    SSL_CTX* ctx = context.native_handle();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_client_cert_cb(ctx, no_client_certificate);
    // A key with a passphrase must fail here, not wait for one on a terminal.
    SSL_CTX_set_default_passwd_cb(ctx, [](char*, int, int, void*) { return 0; });
    ERR_clear_error();
    if (options.ca_file.empty()) {
        SSL_CTX_set_default_verify_paths(ctx);
    } else if (auto why = unreadable("CA file", options.ca_file)) {
        return *why;
    } else if (SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr) != 1) {
        return connection_error("CA file: " + options.ca_file + ": " + openssl_reason());
    }
    if (options.cert_file.empty() && !options.key_file.empty()) {
        return connection_error("a client key was given without its certificate");
    }
    if (!options.cert_file.empty()) {
        const auto& key = options.key_file.empty() ? options.cert_file : options.key_file;
        if (auto why = unreadable("client certificate", options.cert_file)) {
            return *why;
        }
        if (auto why = unreadable("client key", key)) {
            return *why;
        }
        if (SSL_CTX_use_certificate_chain_file(ctx, options.cert_file.c_str()) != 1) {
            return connection_error("client certificate: " + options.cert_file + ": " +
                                    openssl_reason());
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            return connection_error("client key: " + key + ": " + openssl_reason());
        }
    }

    tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, context);
    SSL* ssl = tls_->native_handle();
    SSL_set_ex_data(ssl, requested_flag_index(), &certificate_requested_);
    std::error_code not_ip;
    asio::ip::make_address(host, not_ip);
    if (!not_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str());
    } else {
        SSL_set1_host(ssl, host.c_str());
        // SNI names hosts, never IPs (the macro SSL_set_tlsext_host_name, without its cast).
        SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(host.c_str()));
    }

    std::error_code result;
    bool done = false;
    tls_->async_handshake(asio::ssl::stream_base::client, [&](const std::error_code& ec) {
        result = ec;
        done = true;
    });
    if (!run_until(done, deadline)) {
        return ClientError{ClientError::Kind::timeout, std::nullopt, "no TLS handshake in time"};
    }
    if (long verify = SSL_get_verify_result(ssl); result && verify != X509_V_OK) {
        std::string why = X509_verify_cert_error_string(verify);
        if (verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
            verify == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
            verify == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT) {
            why += " (give the CA that signed the daemon's certificate: --ca or TASKPOOL_CA)";
        }
        return connection_error("the daemon's certificate is not trusted: " + why);
    }
    if (certificate_requested_) {
        // Under TLS 1.3 the handshake succeeds, and the daemon's refusal would only
        // come with the first reply.
        return connection_error(
            "the daemon requires a client certificate: give one with --cert and --key "
            "(TASKPOOL_CERT, TASKPOOL_KEY)");
    }
    if (result) {
        return connection_error("the handshake failed: " + reason(result));
    }
    return {};
}

bool Client::Connection::run_until(const bool& done, std::optional<Clock::time_point> deadline) {
    io_.restart();
    if (deadline) {
        io_.run_until(*deadline);
    } else {
        io_.run();
    }
    if (done) {
        return true;
    }
    socket_.cancel();  // the pending operation ends with operation_aborted
    io_.restart();
    io_.run();
    return false;
}

ClientResult<void> Client::Connection::write(const std::string& line) {
    std::error_code ec;
    if (tls_) {
        asio::write(*tls_, asio::buffer(line), ec);
    } else {
        asio::write(socket_, asio::buffer(line), ec);
    }
    if (ec) {
        return connection_error("cannot send to the daemon: " + reason(ec));
    }
    return {};
}

ClientResult<json> Client::Connection::read_line(std::optional<Clock::time_point> deadline) {
    auto line = read_frame(deadline);
    if (!line) {
        return line.error();
    }
    auto parsed = proto::parse_json(*line);
    if (!parsed || !parsed->is_object()) {
        return ClientError{ClientError::Kind::protocol, std::nullopt,
                           "the daemon sent a line that is not a JSON object"};
    }
    return std::move(*parsed);
}

ClientResult<std::string_view> Client::Connection::read_frame(
    std::optional<Clock::time_point> deadline) {
    for (;;) {
        auto frame = framer_.next();
        if (frame.status == proto::LineFramer::Status::line) {
            return frame.line;
        }
        if (frame.status == proto::LineFramer::Status::too_large) {
            return ClientError{ClientError::Kind::protocol, std::nullopt,
                               "the daemon sent a line over 256 MiB"};
        }
        if (deadline && Clock::now() >= *deadline) {
            return ClientError{ClientError::Kind::timeout, std::nullopt,
                               "no reply from the daemon in time"};
        }
        std::error_code result;
        std::size_t got = 0;
        bool done = false;
        auto on_read = [&](const std::error_code& ec, std::size_t n) {
            result = ec;
            got = n;
            done = true;
        };
        if (tls_) {
            tls_->async_read_some(asio::buffer(buffer_), on_read);
        } else {
            socket_.async_read_some(asio::buffer(buffer_), on_read);
        }
        bool in_time = run_until(done, deadline);
        framer_.feed(std::string_view(buffer_.data(), got));
        if (std::exchange(woken_, false)) {
            return ClientError{ClientError::Kind::timeout, std::nullopt, "woken"};
        }
        if (in_time && result) {
            return read_error(result);
        }
    }
}

void Client::Connection::wake() {
    asio::post(io_, [this] {
        woken_ = true;
        socket_.cancel();  // the read in progress ends with operation_aborted
    });
}

ClientError Client::Connection::read_error(const std::error_code& ec) const {
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
        return connection_error("the daemon closed the connection");
    }
    if (tls_ && ec.category() == asio::error::get_ssl_category()) {
        // An alert: the daemon refused this side's certificate, for one.
        return connection_error("the daemon ended the TLS session: " + reason(ec));
    }
    return connection_error("cannot read from the daemon: " + ec.message());
}

std::optional<TlsInfo> Client::Connection::tls_info() const {
    if (!tls_) {
        return std::nullopt;
    }
    SSL* ssl = tls_->native_handle();
    TlsInfo info{SSL_get_version(ssl), SSL_get_cipher_name(ssl), {}, {}, {}};
    if (const X509* peer = SSL_get0_peer_certificate(ssl)) {
        info.peer_subject = rfc2253(X509_get_subject_name(peer));
        info.peer_issuer = rfc2253(X509_get_issuer_name(peer));
        info.peer_not_after = rfc3339(X509_get0_notAfter(peer));
    }
    return info;
}

}  // namespace taskpool
