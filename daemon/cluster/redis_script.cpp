#include "redis_script.hpp"

#include <openssl/sha.h>

namespace taskpool::daemon::cluster {
namespace {

std::string hex_sha1(const std::string& text) {
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char b : digest) {
        out += hex[b >> 4];
        out += hex[b & 0xf];
    }
    return out;
}

/// EVAL or EVALSHA's arguments: the script or its SHA1, then the keys and args.
std::vector<std::string> eval_args(const char* op, const std::string& script,
                                   const std::vector<std::string>& keys,
                                   const std::vector<std::string>& args) {
    std::vector<std::string> out{op, script, std::to_string(keys.size())};
    out.insert(out.end(), keys.begin(), keys.end());
    out.insert(out.end(), args.begin(), args.end());
    return out;
}

}  // namespace

RedisScript::RedisScript(std::string source)
    : source_(std::move(source)), sha1_(hex_sha1(source_)) {}

void RedisScript::load(RedisConnection& redis, RedisConnection::Handler on_reply) const {
    redis.command({"SCRIPT", "LOAD", source_}, std::move(on_reply));
}

void RedisScript::call(RedisConnection& redis, std::vector<std::string> keys,
                       std::vector<std::string> args, RedisConnection::Handler on_reply) const {
    auto line = eval_args("EVALSHA", sha1_, keys, args);  // before they move
    redis.command(line, [this, &redis, keys = std::move(keys), args = std::move(args),
                         on_reply = std::move(on_reply)](proto::Result<RedisReply> reply) mutable {
        if (reply && reply->kind == RedisReply::Kind::error &&
            reply->text.starts_with("NOSCRIPT")) {
            redis.command(eval_args("EVAL", source_, keys, args), std::move(on_reply));
            return;
        }
        on_reply(std::move(reply));
    });
}

}  // namespace taskpool::daemon::cluster
