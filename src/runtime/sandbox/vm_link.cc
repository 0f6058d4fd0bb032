#include "src/runtime/sandbox/vm_link.h"

#include <optional>
#include <thread>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/libs/trace/scoped_span.h"
#include "src/libs/trace/traceparent.h"
#include "src/runtime/agent/ttrpc_agent_client.h"

namespace kata::runtime {
namespace {

AgentDialer DefaultDialer(const config::RuntimeConfig& config) {
  AgentClientOptions ao;
  ao.create_container_timeout = absl::Seconds(config.runtime.create_container_timeout);
  return [ao](const hypervisor::AgentChannel& ch,
              absl::Duration timeout) -> absl::StatusOr<std::unique_ptr<AgentClient>> {
    AgentClientOptions with = ao;
    with.dial_timeout = timeout;
    return DialAgent(AgentAddress(ch), with);
  };
}

// Tells the guest its network: each interface (by MAC), then the routes, then the neighbours.
absl::Status ConfigureGuestNetwork(AgentClient& agent, const network::GuestNetwork& net) {
  for (const ::types::Interface& i : net.interfaces) {
    ::grpc::UpdateInterfaceRequest r;
    *r.mutable_interface() = i;
    absl::StatusOr<::types::Interface> done = agent.UpdateInterface(r);
    if (!done.ok()) return AnnotateStatus(done.status(), "interface " + i.name());
  }
  if (!net.routes.empty()) {
    ::grpc::UpdateRoutesRequest r;
    for (const ::types::Route& route : net.routes) *r.mutable_routes()->add_routes() = route;
    KATA_RETURN_IF_ERROR(agent.UpdateRoutes(r).status());
  }
  if (!net.neighbors.empty()) {
    ::grpc::AddARPNeighborsRequest r;
    for (const ::types::ARPNeighbor& n : net.neighbors) {
      *r.mutable_neighbors()->add_arpneighbors() = n;
    }
    KATA_RETURN_IF_ERROR(agent.AddARPNeighbors(r));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<VmLink>> VmLink::Boot(SandboxLayout& layout,
                                                     const ::grpc::CreateSandboxRequest& create,
                                                     VmLinkOptions o) {
  const std::string ctx = absl::StrCat("sandbox ", create.sandbox_id());
  if (!o.hypervisor_factory) {
    return absl::InvalidArgumentError(ctx + ": no hypervisor factory");
  }
  absl::Time step_start = absl::Now();
  auto step_done = [&](absl::string_view step) {
    const absl::Time now = absl::Now();
    if (o.on_step) o.on_step(step, now - step_start);
    step_start = now;
  };
  // A tracing agent's boot joins the caller's span (sandbox.start) through its kernel command
  // line: it boots before any call could carry a traceparent.
  const trace::SpanContext boot_parent = trace::CurrentContext();
  std::optional<trace::ScopedSpan> step_span(std::in_place, "vm.prepare");
  absl::StatusOr<hypervisor::VmPlan> plan = o.hypervisor_factory(o.config, layout.ForVm());
  if (!plan.ok()) return AnnotateStatus(plan.status(), ctx);
  if (plan->config.agent_trace && boot_parent.IsValid()) {
    absl::StrAppend(&plan->config.kernel_params,
                    " agent.trace_parent=", trace::FormatTraceparent(boot_parent));
  }
  if (o.network != nullptr) plan->config.net_devices = o.network->devices;
  std::shared_ptr<hypervisor::Hypervisor> vm = std::move(plan->vm);
  KATA_RETURN_IF_ERROR(AnnotateStatus(vm->CreateVm(plan->config), ctx + ": create VM"));
  step_done("prepare");
  step_span.reset();
  absl::Cleanup stop_vm = [&] { vm->StopVm().IgnoreError(); };
  step_span.emplace("vm.start");
  KATA_RETURN_IF_ERROR(AnnotateStatus(vm->StartVm(o.start_vm_timeout), ctx + ": start VM"));
  step_done("start_vm");
  step_span.reset();
  std::vector<pid_t> pids = vm->Pids();
  if (!pids.empty()) {
    KATA_RETURN_IF_ERROR(AnnotateStatus(layout.RecordVmmPid(pids[0]), ctx));
  }

  absl::StatusOr<hypervisor::AgentChannel> channel = vm->GetAgentChannel();
  if (!channel.ok()) return AnnotateStatus(channel.status(), ctx + ": agent channel");
  AgentDialer dialer = o.agent_dialer ? o.agent_dialer : DefaultDialer(o.config);
  step_span.emplace("agent.dial");  // until the agent answers Health.Check
  absl::StatusOr<std::unique_ptr<AgentClient>> dialed =
      dialer(*channel, absl::Seconds(o.config.agent.dial_timeout));
  if (!dialed.ok()) return AnnotateStatus(dialed.status(), ctx);
  std::shared_ptr<AgentClient> agent = *std::move(dialed);
  step_done("agent_ready");
  step_span.emplace("vm.release_boot_memory");
  if (absl::Status released = vm->ReleaseBootMemory(); !released.ok() && o.on_warning) {
    o.on_warning(absl::StrCat(ctx, ": boot memory kept: ", released.ToString()));
  }
  step_done("release_boot_memory");
  step_span.reset();
  absl::Status created = absl::OkStatus();
  if (o.network != nullptr) {
    created = AnnotateStatus(ConfigureGuestNetwork(*agent, *o.network), "guest network");
  }
  if (created.ok()) created = agent->CreateSandbox(create);
  if (!created.ok()) {
    agent->Close();
    return AnnotateStatus(created, ctx);
  }
  step_done("create_sandbox");
  std::move(stop_vm).Cancel();
  return std::unique_ptr<VmLink>(new VmLink(std::move(vm), std::move(agent), o.destroy_timeout));
}

VmLink::~VmLink() { Stop(false).IgnoreError(); }

absl::StatusOr<hypervisor::VmExit> VmLink::WaitVmEnd() {
  return vm_->WaitVm(absl::InfiniteDuration());
}

absl::Status VmLink::Stop(bool destroy_guest) {
  absl::MutexLock once(&stop_mu_);
  if (stopped_) return absl::OkStatus();
  stopped_ = true;
  trace::ScopedSpan span("vm.stop");
  if (destroy_guest && vm_->State() != hypervisor::VmState::kStopped) {
    // DestroySandbox powers the guest off, so its answer may never come: wait for the answer
    // or the VM's end, whichever is first, at most destroy_timeout_.
    auto answered = std::make_shared<absl::Notification>();
    std::shared_ptr<AgentClient> agent = agent_;
    std::thread destroy(
        [agent, answered, tracer = trace::CurrentTracer(), parent = trace::CurrentContext()] {
          std::optional<trace::ScopedSpan> span;  // the caller's span is the parent (if traced)
          if (tracer != nullptr) span.emplace(*tracer, "guest.destroy", parent);
          agent->DestroySandbox({}).IgnoreError();
          answered->Notify();
        });
    const absl::Time deadline = absl::Now() + destroy_timeout_;
    while (!answered->HasBeenNotified() && absl::Now() < deadline) {
      if (vm_->WaitVm(absl::Milliseconds(20)).ok()) break;
    }
    agent_->Close();
    destroy.join();
  }
  agent_->Close();
  trace::ScopedSpan stop_span("qemu.stop");
  absl::Status s = vm_->StopVm();
  if (vm_->State() == hypervisor::VmState::kStopped) return absl::OkStatus();
  return s;
}

}  // namespace kata::runtime
