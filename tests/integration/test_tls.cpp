// TLS on the one port (PROTOCOL.md section 14), with certificates this test makes
// with the openssl CLI: NDJSON and HTTP inside TLS, plaintext closed unanswered,
// client certificates, a slow handshake cut, certificates replaced on SIGHUP.
#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include <doctest/doctest.h>
#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/ssl.hpp>
#include <asio/write.hpp>

#include "../support/daemon_process.hpp"
#include "../support/line_client.hpp"
#include "../support/temp_dir.hpp"
#include "taskpool/client.hpp"

using namespace taskpool::test;
using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

/// A CA, and certificates it signed: for the server (127.0.0.1), for a client, and
/// one that expired; plus a second CA that signed nothing here.
class Certificates {
public:
    Certificates() {
        ca("ca", "taskpool test CA");
        ca("other-ca", "another CA");
        leaf("server", "127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
             "2");
        leaf("renewed", "renewed server",
             "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n", "2");
        leaf("client", "alice", "extendedKeyUsage=clientAuth\n", "2");
        leaf("named", "taskpool.test",
             "subjectAltName=DNS:taskpool.test\nextendedKeyUsage=serverAuth\n", "2");
        leaf("expired", "127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
             "-1");
    }
    std::string path(const std::string& name) const { return (dir_.path() / name).string(); }

private:
    void openssl(std::vector<std::string> args) {
        args.insert(args.begin(), "openssl");
        auto r = run_command(args);
        REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    }
    void ca(const std::string& name, const std::string& subject) {
        openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", path(name + ".key"), "-out", path(name + ".pem"), "-days", "2", "-subj",
                 "/CN=" + subject});
    }
    void leaf(const std::string& name, const std::string& subject, const std::string& extensions,
              const std::string& days) {
        std::ofstream(path(name + ".ext")) << extensions;
        openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                 path(name + ".key"), "-out", path(name + ".csr"), "-subj", "/CN=" + subject});
        openssl({"x509", "-req", "-in", path(name + ".csr"), "-CA", path("ca.pem"), "-CAkey",
                 path("ca.key"), "-CAcreateserial", "-days", days, "-extfile", path(name + ".ext"),
                 "-out", path(name + ".pem")});
    }

    TempDir dir_;
};

json tls_config(const Certificates& certs, const std::string& server = "server") {
    return {{"tls", {{"cert", certs.path(server + ".pem")}, {"key", certs.path(server + ".key")}}}};
}

/// curl over TLS trusting the test CA; its exit code, and what it printed.
CommandResult curl_tls(const DaemonProcess& d, const Certificates& certs, const std::string& path,
                       std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {"curl", "-sS", "-v", "--cacert", certs.path("ca.pem")};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back("https://" + d.address() + path);
    return run_command(argv);
}

/// NDJSON inside TLS: one request, one reply line.
class TlsLineClient {
public:
    TlsLineClient(std::uint16_t port, const Certificates& certs)
        : context_(asio::ssl::context::tls_client), stream_(io_, context_) {
        context_.load_verify_file(certs.path("ca.pem"));
        context_.set_verify_mode(asio::ssl::verify_peer);
        asio::ip::tcp::endpoint at(asio::ip::make_address("127.0.0.1"), port);
        stream_.lowest_layer().connect(at);
        stream_.handshake(asio::ssl::stream_base::client);
    }
    json request(const json& request) {
        send(request);
        return read();
    }
    /// One request in a TLS record of its own.
    void send(const json& request) { asio::write(stream_, asio::buffer(request.dump() + "\n")); }
    json read() {
        auto n = asio::read_until(stream_, asio::dynamic_buffer(buffer_), '\n');
        auto line = buffer_.substr(0, n - 1);
        buffer_.erase(0, n);
        return json::parse(line);
    }

private:
    asio::io_context io_;
    asio::ssl::context context_;
    asio::ssl::stream<asio::ip::tcp::socket> stream_;
    std::string buffer_;
};

}  // namespace

TEST_CASE("tls.ndjson_and_http_inside_tls_on_one_port" * doctest::timeout(60)) {
    Certificates certs;
    DaemonProcess d({.config = tls_config(certs)});
    TlsLineClient c(d.port(), certs);
    CHECK(c.request({{"op", "ping"}})["ok"] == true);
    auto job =
        c.request({{"op", "submit"}, {"task", "echo"}, {"args", {{"n", 1}}}, {"wait", true}});
    CHECK(job["job"]["result"] == json{{"n", 1}});

    // Pipelined, a record a request: the daemon takes the records that have come
    // together at once, and answers every one (waits in the order their jobs end).
    for (int i = 0; i < 500; ++i) {
        c.send({{"id", i}, {"op", "submit"}, {"task", "echo"}, {"args", i}, {"wait", true}});
    }
    std::set<int> answered;
    for (int i = 0; i < 500; ++i) {
        auto reply = c.read();
        CHECK(reply["job"]["result"] == reply["id"]);
        answered.insert(reply["id"].get<int>());
    }
    CHECK(answered.size() == 500);

    auto stats = curl_tls(d, certs, "/v1/stats");
    REQUIRE(stats.exit_code == 0);
    CHECK(json::parse(stats.out)["connections"] == 2);
    CHECK(stats.err.find("TLSv1.3") != std::string::npos);
    // TLS 1.1 and older are refused (the client allows them; the daemon does not).
    auto old = curl_tls(d, certs, "/v1/stats",
                        {"--tlsv1.1", "--tls-max", "1.1", "--ciphers", "DEFAULT:@SECLEVEL=0"});
    CHECK(old.exit_code != 0);
}

TEST_CASE("tls.plaintext_to_a_tls_port_is_closed_unanswered" * doctest::timeout(30)) {
    Certificates certs;
    DaemonProcess d({.config = tls_config(certs)});
    LineClient plain(d.port());
    plain.send_raw("{\"op\":\"ping\"}\n");
    auto sent = std::chrono::steady_clock::now();
    CHECK_FALSE(plain.read_line(10s).has_value());        // nothing said,
    CHECK(std::chrono::steady_clock::now() - sent < 5s);  // and closed, not left waiting
    auto http = run_command({"curl", "-sS", "http://" + d.address() + "/healthz"});
    CHECK(http.exit_code == 52);  // an empty reply
    CHECK(TlsLineClient(d.port(), certs).request({{"op", "ping"}})["ok"] == true);
}

TEST_CASE("tls.clients_refuse_a_server_they_cannot_trust" * doctest::timeout(30)) {
    Certificates certs;
    {
        DaemonProcess d({.config = tls_config(certs)});
        auto untrusted = run_command({"curl", "-sS", "--cacert", certs.path("other-ca.pem"),
                                      "https://" + d.address() + "/healthz"});
        CHECK(untrusted.exit_code == 60);
    }
    DaemonProcess d({.config = tls_config(certs, "expired")});
    auto expired = curl_tls(d, certs, "/healthz");
    CHECK(expired.exit_code == 60);
    CHECK(expired.err.find("expired") != std::string::npos);
}

TEST_CASE("tls.client_ca_requires_a_client_certificate" * doctest::timeout(30)) {
    Certificates certs;
    auto config = tls_config(certs);
    config["tls"]["client_ca"] = certs.path("ca.pem");
    DaemonProcess d({.config = config});
    CHECK(curl_tls(d, certs, "/v1/stats").exit_code != 0);
    auto with = curl_tls(d, certs, "/v1/stats",
                         {"--cert", certs.path("client.pem"), "--key", certs.path("client.key")});
    CHECK(with.exit_code == 0);
    CHECK(json::parse(with.out).contains("jobs"));
}

TEST_CASE("tls.a_slow_handshake_is_cut" * doctest::timeout(30)) {
    Certificates certs;
    auto config = tls_config(certs);
    config["limits"] = {{"request_timeout_s", 0.5}};
    DaemonProcess d({.config = config});
    LineClient c(d.port());
    c.send_raw(std::string(1, '\x16'));  // a handshake begun, and never finished
    auto started = std::chrono::steady_clock::now();
    CHECK_FALSE(c.read_line(10s).has_value());
    CHECK(std::chrono::steady_clock::now() - started < 5s);
}

TEST_CASE("tls.sighup_replaces_the_certificate_for_new_connections" * doctest::timeout(60)) {
    Certificates certs;
    TempDir dir;
    auto cert = (dir.path() / "cert.pem").string();
    auto key = (dir.path() / "key.pem").string();
    fs::copy_file(certs.path("server.pem"), cert);
    fs::copy_file(certs.path("server.key"), key);
    DaemonProcess d({.config = {{"tls", {{"cert", cert}, {"key", key}}}}});
    TlsLineClient open(d.port(), certs);
    CHECK(open.request({{"op", "ping"}})["ok"] == true);
    CHECK(curl_tls(d, certs, "/healthz").err.find("CN=127.0.0.1") != std::string::npos);

    // Replaced by rename, as an operator should.
    fs::copy_file(certs.path("renewed.pem"), cert + ".new");
    fs::copy_file(certs.path("renewed.key"), key + ".new");
    fs::rename(cert + ".new", cert);
    fs::rename(key + ".new", key);
    d.signal(SIGHUP);
    bool renewed = false;
    for (int i = 0; i < 100 && !renewed; ++i) {
        std::this_thread::sleep_for(50ms);
        renewed = curl_tls(d, certs, "/healthz").err.find("CN=renewed server") != std::string::npos;
    }
    CHECK(renewed);
    CHECK(open.request({{"op", "ping"}})["ok"] == true);  // the open one goes on
}

TEST_CASE("tls.bad_certificate_files_stop_the_start_with_what_to_fix" * doctest::timeout(30)) {
    Certificates certs;
    auto start = [&](const json& tls) {
        TempDir dir;
        auto path = dir.path() / "taskpool.json";
        std::ofstream(path) << json{{"listen", "127.0.0.1:0"}, {"tls", tls}}.dump();
        auto r = run_command({binary_path("taskpoold"), "--config", path.string()});
        CHECK(r.exit_code != 0);
        return r.out + r.err;
    };
    CHECK(start({{"cert", certs.path("server.pem")}, {"key", certs.path("none.key")}})
              .find("tls.key: " + certs.path("none.key") + ": No such file or directory") !=
          std::string::npos);
    CHECK(start({{"cert", certs.path("server.pem")}, {"key", certs.path("client.key")}})
              .find("is not the key of the certificate in tls.cert") != std::string::npos);
    CHECK(start({{"cert", certs.path("server.csr")}, {"key", certs.path("server.key")}})
              .find("tls.cert: ") != std::string::npos);
    CHECK(start({{"cert", certs.path("server.pem")}}).find("tls.cert and tls.key go together") !=
          std::string::npos);
}

namespace {

/// The CLI, with the test CA and `flags` before `args`.
CommandResult cli(const DaemonProcess& d, const Certificates& certs, std::vector<std::string> args,
                  std::vector<std::string> flags = {},
                  const std::map<std::string, std::string>& env = {}) {
    std::vector<std::string> argv = {binary_path("taskpool"), "--addr", "tls://" + d.address(),
                                     "--ca", certs.path("ca.pem")};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, env);
}

taskpool::ConnectOptions trusting(const Certificates& certs) {
    taskpool::ConnectOptions options;
    options.ca_file = certs.path("ca.pem");
    return options;
}

}  // namespace

TEST_CASE("tls.the_cli_speaks_tls_and_ping_shows_the_certificate" * doctest::timeout(60)) {
    Certificates certs;
    DaemonProcess d({.config = tls_config(certs)});
    auto ping = cli(d, certs, {"--json", "ping"});
    REQUIRE_MESSAGE(ping.exit_code == 0, ping.err);
    auto pong = json::parse(ping.out);
    CHECK(pong["protocol"].is_number_integer());
    CHECK(pong["tls"]["version"] == "TLSv1.3");
    CHECK(pong["tls"]["peer_subject"] == "CN=127.0.0.1");
    CHECK(pong["tls"]["peer_issuer"] == "CN=taskpool test CA");
    CHECK(pong["tls"]["peer_not_after"].get<std::string>().ends_with("Z"));

    auto job = cli(d, certs, {"submit", "echo", R"({"over":"tls"})"});
    CHECK(job.exit_code == 0);
    CHECK(json::parse(job.out) == json{{"over", "tls"}});
    // --tls with the CA from the environment; a map, whose replies come pipelined.
    auto map = run_command({binary_path("taskpool"), "--addr", d.address(), "--tls", "map", "echo"},
                           {{"TASKPOOL_CA", certs.path("ca.pem")}}, "1\n2\n3\n");
    CHECK_MESSAGE(map.exit_code == 0, map.err);
    CHECK(map.out == "1\n2\n3\n");
    // The CA in the environment alone does not ask for TLS, and plain TCP to a TLS
    // port says what to try.
    auto plain = run_command({binary_path("taskpool"), "--addr", d.address(), "ping"},
                             {{"TASKPOOL_CA", certs.path("ca.pem")}});
    CHECK(plain.exit_code == 3);
    CHECK(plain.err.find("connect to tls://" + d.address()) != std::string::npos);
}

TEST_CASE("tls.the_client_library_runs_jobs_and_events_over_tls" * doctest::timeout(60)) {
    Certificates certs;
    auto config = tls_config(certs);
    config["limits"] = {{"max_message_bytes", 4 << 20}};
    DaemonProcess d({.config = config});
    auto client = taskpool::Client::connect("tls://" + d.address(), trusting(certs));
    REQUIRE_MESSAGE(client.ok(), client.error().message);
    REQUIRE(client->tls_info().has_value());
    CHECK(client->tls_info()->peer_subject == "CN=127.0.0.1");

    // Replies many TLS records long, and many replies in one record.
    std::string big(2 << 20, 'x');
    auto echoed = client->submit("echo", big, {.wait = 30.0});
    REQUIRE(echoed.ok());
    CHECK(echoed->result->text() == json(big).dump());
    std::vector<json> items;
    for (int i = 0; i < 5000; ++i) {
        items.emplace_back(i);
    }
    auto batch = client->map("echo", items, {.wait = 30.0});
    REQUIRE(batch.ok());
    REQUIRE(batch->jobs.size() == 5000);
    CHECK(batch->jobs[4999].result->text() == "4999");

    int done = 0;
    for (int i = 0; i < 100; ++i) {
        REQUIRE(client->submit_async("echo", i, [&](const taskpool::proto::Job&) { ++done; }).ok());
    }
    REQUIRE(client->run_callbacks(30).ok());
    CHECK(done == 100);
    // A wait that runs out leaves the connection usable.
    auto slow = client->submit("sleep", {{"seconds", 1}});
    REQUIRE(slow.ok());
    auto early = client->call(taskpool::proto::GetRequest{slow->id, 30.0}, 0.2);
    CHECK(early.error().kind == taskpool::ClientError::Kind::timeout);
    CHECK(client->ping().ok());
}

TEST_CASE("tls.clients_check_the_daemon_certificate" * doctest::timeout(60)) {
    Certificates certs;
    DaemonProcess d({.config = tls_config(certs)});
    auto untrusted = run_command({binary_path("taskpool"), "--addr", "tls://" + d.address(), "--ca",
                                  certs.path("other-ca.pem"), "ping"});
    CHECK(untrusted.exit_code == 3);
    CHECK(untrusted.err.find("not trusted: unable to get local issuer certificate") !=
          std::string::npos);
    // The certificate names 127.0.0.1, not localhost.
    auto options = trusting(certs);
    auto wrong_name =
        taskpool::Client::connect("tls://localhost:" + std::to_string(d.port()), options);
    REQUIRE_FALSE(wrong_name.ok());
    CHECK(wrong_name.error().message.find("hostname mismatch") != std::string::npos);

    DaemonProcess expired({.config = tls_config(certs, "expired")});
    auto old = cli(expired, certs, {"ping"});
    CHECK(old.exit_code == 3);
    CHECK(old.err.find("certificate has expired") != std::string::npos);

    DaemonProcess named({.config = tls_config(certs, "named")});
    auto by_ip = taskpool::Client::connect("tls://" + named.address(), options);
    REQUIRE_FALSE(by_ip.ok());
    CHECK(by_ip.error().message.find("IP address mismatch") != std::string::npos);
}

TEST_CASE("tls.client_certificates_from_the_cli_and_the_library" * doctest::timeout(60)) {
    Certificates certs;
    auto config = tls_config(certs);
    config["tls"]["client_ca"] = certs.path("ca.pem");
    DaemonProcess d({.config = config});
    auto without = cli(d, certs, {"ping"});
    CHECK(without.exit_code == 3);
    CHECK(without.err.find("requires a client certificate: give one with --cert and --key") !=
          std::string::npos);
    auto with = cli(d, certs, {"--json", "ping"}, {"--cert", certs.path("client.pem")},
                    {{"TASKPOOL_KEY", certs.path("client.key")}});
    CHECK_MESSAGE(with.exit_code == 0, with.err);

    auto options = trusting(certs);
    options.cert_file = certs.path("client.pem");
    options.key_file = certs.path("client.key");
    auto client = taskpool::Client::connect("tls://" + d.address(), options);
    REQUIRE_MESSAGE(client.ok(), client.error().message);
    CHECK(client->ping().ok());
    // A certificate its CA did not sign: the daemon refuses it.
    options.cert_file = certs.path("other-ca.pem");
    options.key_file = certs.path("other-ca.key");
    auto stranger = taskpool::Client::connect("tls://" + d.address(), options);
    CHECK_FALSE(stranger.ok());
}

TEST_CASE("tls.a_public_address_needs_tls_and_a_token" * doctest::timeout(60)) {
    Certificates certs;
    auto refusal = [](const json& config) {
        TempDir dir;
        auto path = dir.path() / "taskpool.json";
        std::ofstream(path) << config.dump();
        auto r = run_command(
            {binary_path("taskpoold"), "--config", path.string(), "--listen", "0.0.0.0:0"});
        CHECK(r.exit_code == 1);
        return r.out;
    };
    auto without_tls = refusal({{"auth", {{"token", "t"}}}});
    CHECK(without_tls.find("refusing to listen on 0.0.0.0:0 without TLS: set tls.cert and "
                           "tls.key (TASKPOOL_TLS_CERT, TASKPOOL_TLS_KEY); or pass --insecure") !=
          std::string::npos);
    auto without_token = refusal(tls_config(certs));
    CHECK(without_token.find("without a token: set auth.token (TASKPOOL_TOKEN), auth.tokens or "
                             "tls.client_ca") != std::string::npos);

    auto config = tls_config(certs);
    config["auth"] = {{"token", "t"}};
    DaemonProcess with_token({.config = config, .listen = "0.0.0.0:0"});
    auto options = trusting(certs);
    options.token = "t";
    CHECK(taskpool::Client::connect("tls://" + with_token.address(), options).ok());

    config = tls_config(certs);
    config["tls"]["client_ca"] = certs.path("ca.pem");
    DaemonProcess with_certificates({.config = config, .listen = "0.0.0.0:0"});
    CHECK(with_certificates.running());
    DaemonProcess insecure({.listen = "0.0.0.0:0", .args = {"--insecure"}});
    CHECK(taskpool::Client::connect(insecure.address()).ok());
}
