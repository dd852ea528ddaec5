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

/// `op` of `script`, with its keys and arguments, as one command's arguments: views
/// of the strings, which stay where they are.
std::vector<std::string_view> eval_args(std::string_view op, std::string_view script,
                                        std::string_view key_count,
                                        const std::vector<std::string>& keys,
                                        const std::vector<std::string>& args) {
    std::vector<std::string_view> out{op, script, key_count};
    out.reserve(3 + keys.size() + args.size());
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
    auto key_count = std::to_string(keys.size());
    auto line = eval_args("EVALSHA", sha1_, key_count, keys, args);  // before they move
    redis.command(line, [this, &redis, key_count, keys = std::move(keys), args = std::move(args),
                         on_reply = std::move(on_reply)](proto::Result<RedisReply> reply) mutable {
        if (reply && reply->kind == RedisReply::Kind::error &&
            reply->text.starts_with("NOSCRIPT")) {
            redis.command(eval_args("EVAL", source_, key_count, keys, args), std::move(on_reply));
            return;
        }
        on_reply(std::move(reply));
    });
}

}  // namespace taskpool::daemon::cluster
