#include "handlers.hpp"

namespace taskpool::daemon::ops {

using nlohmann::json;

void handle(proto::KvGetRequest req, Call& call) {
    call.reply.ok({{"value", call.services.kv.get(req.key)}});
}

void handle(proto::KvSetRequest req, Call& call) {
    call.reply.ok({{"value", call.services.kv.set(req.key, std::move(req.value))}});
}

void handle(proto::KvDelRequest req, Call& call) {
    call.reply.ok({{"value", call.services.kv.del(req.key)}});
}

void handle(proto::KvIncrRequest req, Call& call) {
    auto value = call.services.kv.incr(req.key, req.by);
    if (!value) {
        call.reply.error(value.error());
        return;
    }
    call.reply.ok({{"value", *value}});
}

void handle(proto::KvCasRequest req, Call& call) {
    auto result = call.services.kv.cas(req.key, req.expect, std::move(req.value));
    call.reply.ok({{"swapped", result.swapped}, {"value", std::move(result.value)}});
}

}  // namespace taskpool::daemon::ops
