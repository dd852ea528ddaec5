// A connection becomes a remote worker, and reports on the jobs it holds
// (PROTOCOL.md section 10).
#include "daemon/cluster/redis_job_store.hpp"
#include "daemon/ops/services.hpp"
#include "daemon/pools/remote_pool.hpp"
#include "daemon/store/journal.hpp"
#include "daemon/tasks/registry.hpp"
#include "handlers.hpp"

namespace taskpool::daemon::ops {
namespace {

void answer(const proto::Result<void>& done, Call& call) {
    if (done) {
        call.reply.ok();
    } else {
        call.reply.error(done.error());
    }
}

}  // namespace

void handle(proto::WorkerRegisterRequest req, Call& call) {
    auto& remote = call.services.remote;
    if (remote.is_worker(call.peer->id())) {
        call.reply.error(
            proto::bad_request("this connection is a worker already: it registers once"));
        return;
    }
    auto& tasks = call.services.tasks;
    for (const auto& task : req.tasks) {  // all or none
        if (const auto* known = tasks.find(task.name);
            known != nullptr && known->pool != proto::PoolKind::remote) {
            call.reply.error(proto::bad_request("field 'tasks': '" + task.name + "' is a " +
                                                known->kind +
                                                " task of this daemon: a remote worker cannot "
                                                "serve it"));
            return;
        }
    }
    pools::RemotePool::Registration registration;
    for (const auto& task : req.tasks) {
        const auto* known = tasks.find(task.name);
        bool changed = known == nullptr ||
                       (!task.description.empty() && task.description != known->description);
        (void)tasks.add_remote(task.name, task.description);  // checked above
        if (changed && call.services.journal != nullptr) {    // known again after a restart
            call.services.journal->append(
                store::write::RemoteTaskKnown{task.name, tasks.find(task.name)->description});
        }
        if (changed && call.services.cluster != nullptr) {  // and on every node
            call.services.cluster->task_known(task.name, tasks.find(task.name)->description);
        }
        registration.tasks.push_back(task.name);
    }
    registration.capacity = req.capacity;
    registration.addr = call.peer->address();
    registration.name = req.name.value_or(registration.addr);
    call.peer->worker = true;
    auto id = remote.register_worker(call.peer, std::move(registration));
    call.reply.ok({{"worker", id}, {"heartbeat_s", remote.heartbeat().count()}});
}

void handle(proto::WorkerQuietRequest, Call& call) {
    answer(call.services.remote.quiet(call.peer->id()), call);
}

void handle(proto::JobDoneRequest req, Call& call) {
    answer(call.services.remote.finish(call.peer->id(), req.job, std::move(req.result)), call);
}

void handle(proto::JobFailRequest req, Call& call) {
    // The job's error says what the worker's did: "ValueError: bad size".
    std::string message = req.type ? *req.type + ": " + req.message : req.message;
    answer(call.services.remote.finish(
               call.peer->id(), req.job,
               proto::JobError{proto::JobErrorCode::task_error, std::move(message)}),
           call);
}

void handle(proto::JobProgressRequest req, Call& call) {
    answer(call.services.remote.progress(call.peer->id(), req.job, std::move(req.progress)), call);
}

}  // namespace taskpool::daemon::ops
