#include "src/runtime/hypervisor/qemu/command_line.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kata::hypervisor::qemu {
namespace {

constexpr size_t kMaxSocketPath = 107;  // sizeof(sockaddr_un::sun_path) - 1
constexpr size_t kMax9pTag = 31;

absl::Status Invalid(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("qemu config: ", what));
}

// "aa:bb:cc:dd:ee:ff": six two-digit hex bytes.
bool IsMac(const std::string& mac) {
  if (mac.size() != 17) return false;
  for (size_t i = 0; i < mac.size(); ++i) {
    if (i % 3 == 2 ? mac[i] != ':' : !absl::ascii_isxdigit(mac[i])) return false;
  }
  return true;
}

}  // namespace

QemuPaths PathsFor(const VmConfig& config) {
  const std::string& d = config.work_dir;
  return QemuPaths{
      .qmp_socket = absl::StrCat(d, "/qmp.sock"),
      .agent_socket = absl::StrCat(d, "/agent.sock"),
      .console_log = absl::StrCat(d, "/console.log"),
      .qemu_log = absl::StrCat(d, "/qemu.log"),
      .virtiofs_socket = absl::StrCat(d, "/vfs.sock"),
      .virtiofsd_log = absl::StrCat(d, "/virtiofsd.log"),
      .debug_console_socket = absl::StrCat(d, "/", kDebugConsoleSocketName),
      .agent_trace_socket = absl::StrCat(d, "/", kAgentTraceSocketName),
  };
}

std::string RootPortId(uint32_t i) { return absl::StrCat("rp", i); }
int RootPortSlot(uint32_t i) { return kFirstRootPortSlot + static_cast<int>(i); }

std::string EscapeOptionValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    out.push_back(c);
    if (c == ',') out.push_back(',');
  }
  return out;
}

absl::Status ValidateConfig(const VmConfig& c, const CommandLineOptions& options) {
  if (options.binary.empty()) return Invalid("no QEMU binary");
  if (c.kernel_path.empty() && options.require_kernel) return Invalid("kernel_path is required");
  if (!c.initrd_path.empty() && c.kernel_path.empty()) {
    return Invalid("initrd_path needs a kernel_path");
  }
  if (c.vcpus == 0 || c.vcpus > 255)
    return Invalid(absl::StrCat("vcpus must be 1..255, got ", c.vcpus));
  if (c.memory_mib < 16)
    return Invalid(absl::StrCat("memory_mib must be >= 16, got ", c.memory_mib));
  if (c.work_dir.empty() || c.work_dir[0] != '/') {
    return Invalid(absl::StrCat("work_dir must be an absolute path, got \"", c.work_dir, "\""));
  }
  const QemuPaths paths = PathsFor(c);
  for (const std::string* p : {&paths.qmp_socket, &paths.agent_socket, &paths.virtiofs_socket,
                               &paths.debug_console_socket, &paths.agent_trace_socket}) {
    if (p->size() > kMaxSocketPath) {
      return Invalid(absl::StrCat("socket path ", *p, " is longer than ", kMaxSocketPath,
                                  " bytes; use a shorter work_dir"));
    }
  }
  if (!c.entropy_source.empty() && c.entropy_source[0] != '/') {
    return Invalid(
        absl::StrCat("entropy_source must be an absolute path, got \"", c.entropy_source, "\""));
  }
  if (c.machine == MachineType::kMicrovm && c.hotplug_slots > 0) {
    return Invalid("machine microvm cannot hotplug devices (hotplug_slots must be 0)");
  }
  if (c.hotplug_slots > kMaxHotplugSlots) {
    return Invalid(
        absl::StrCat("hotplug_slots must be <= ", kMaxHotplugSlots, ", got ", c.hotplug_slots));
  }
  if (!c.shared_dir.empty()) {
    if (c.shared_dir[0] != '/') return Invalid("shared_dir must be an absolute path");
    if (c.shared_mount_tag.empty() || c.shared_mount_tag.size() > kMax9pTag ||
        c.shared_mount_tag.find_first_of(", ") != std::string::npos) {
      return Invalid(absl::StrCat("shared_mount_tag must be 1..", kMax9pTag,
                                  " characters without commas or spaces, got \"",
                                  c.shared_mount_tag, "\""));
    }
  }
  if (c.shared_fs == SharedFsKind::kVirtioFs) {
    if (c.shared_dir.empty()) return Invalid("virtio-fs needs a shared_dir");
    if (c.virtiofsd_path.empty() || c.virtiofsd_path[0] != '/') {
      return Invalid(
          absl::StrCat("virtiofsd_path must be an absolute path, got \"", c.virtiofsd_path, "\""));
    }
    if (c.virtio_fs_cache != "auto" && c.virtio_fs_cache != "always" &&
        c.virtio_fs_cache != "none") {
      return Invalid(absl::StrCat("virtio_fs_cache must be auto, always or none, got \"",
                                  c.virtio_fs_cache, "\""));
    }
  }
  if (options.console_fd >= 0 && options.console_fd < 3) {
    return Invalid(absl::StrCat("console_fd must be >= 3, got ", options.console_fd));
  }
  const std::string sandbox_switch = options.sandbox.substr(0, options.sandbox.find(','));
  if (!options.sandbox.empty() &&
      (options.sandbox.find_first_not_of("abcdefghijklmnopqrstuvwxyz=,") != std::string::npos ||
       (sandbox_switch != "on" && sandbox_switch != "off"))) {
    return Invalid(absl::StrCat("sandbox must be \"on\" or \"off\" and options [a-z=,], got \"",
                                options.sandbox, "\""));
  }
  if (c.agent_channel == AgentChannelKind::kVsock && c.vsock_guest_cid < 3) {
    return Invalid(absl::StrCat("vsock_guest_cid must be >= 3, got ", c.vsock_guest_cid));
  }
  if (c.net_devices.size() > kMaxNetDevices) {
    return Invalid(
        absl::StrCat("net_devices: at most ", kMaxNetDevices, ", got ", c.net_devices.size()));
  }
  for (size_t i = 0; i < c.net_devices.size(); ++i) {
    const NetDevice& n = c.net_devices[i];
    if (n.tap_fd < 0) return Invalid(absl::StrCat("net_devices[", i, "].tap_fd must be >= 0"));
    if (!IsMac(n.mac)) {
      return Invalid(absl::StrCat("net_devices[", i, "].mac \"", n.mac, "\" is not a MAC"));
    }
  }
  return absl::OkStatus();
}

namespace {

// NICs: virtio-net on each tap fd (QEMU inherits the fds), at pcie.0 slots 0x5.. on q35.
void AddNetDevices(const VmConfig& c, std::vector<std::string>* a) {
  const bool q35 = c.machine == MachineType::kQ35;
  for (size_t i = 0; i < c.net_devices.size(); ++i) {
    const NetDevice& n = c.net_devices[i];
    // vhost-net needs KVM's irqfd/ioeventfd; under TCG QEMU's own virtio-net backend serves.
    const bool vhost = n.vhost_fd >= 0 && c.accelerator == Accelerator::kKvm;
    a->insert(a->end(),
              {"-netdev",
               absl::StrCat("tap,id=net", i, ",fd=", n.tap_fd,
                            vhost ? absl::StrCat(",vhost=on,vhostfd=", n.vhost_fd) : ""),
               "-device",
               absl::StrCat(q35 ? "virtio-net-pci" : "virtio-net-device", ",netdev=net", i,
                            ",id=nic", i, ",mac=", n.mac,
                            q35 ? absl::StrFormat(",bus=pcie.0,addr=0x%x", kFirstNicSlot + i)
                                : std::string())});
  }
}

// The shared directory: QEMU's 9p server, or virtio-fs through virtiofsd's socket (guest RAM
// then a shared memfd virtiofsd maps; the machine option names it).
void AddSharedDir(const VmConfig& c, const CommandLineOptions& options,
                  std::vector<std::string>* a) {
  if (c.shared_dir.empty()) return;
  const bool q35 = c.machine == MachineType::kQ35;
  if (c.shared_fs == SharedFsKind::kVirtioFs) {
    a->insert(
        a->end(),
        {"-object", absl::StrCat("memory-backend-memfd,id=mem0,size=", c.memory_mib, "M,share=on"),
         "-chardev",
         absl::StrCat("socket,id=vfs0,path=", EscapeOptionValue(PathsFor(c).virtiofs_socket)),
         "-device",
         absl::StrCat(q35 ? "vhost-user-fs-pci,bus=pcie.0,addr=0x3" : "vhost-user-fs-device",
                      ",id=fs0,chardev=vfs0,queue-size=1024,tag=", c.shared_mount_tag)});
    return;
  }
  a->insert(a->end(), {"-fsdev",
                       absl::StrCat("local,id=fsdev0,path=", EscapeOptionValue(c.shared_dir),
                                    ",security_model=none",
                                    options.fsdev_multidevs_remap ? ",multidevs=remap" : ""),
                       "-device",
                       absl::StrCat(q35 ? "virtio-9p-pci,bus=pcie.0,addr=0x3" : "virtio-9p-device",
                                    ",id=fs0,fsdev=fsdev0,mount_tag=", c.shared_mount_tag)});
}

}  // namespace

absl::StatusOr<std::vector<std::string>> BuildCommandLine(const VmConfig& c,
                                                          const CommandLineOptions& options) {
  if (absl::Status s = ValidateConfig(c, options); !s.ok()) return s;
  const QemuPaths paths = PathsFor(c);
  const bool q35 = c.machine == MachineType::kQ35;
  const bool kvm = c.accelerator == Accelerator::kKvm;
  const char* accel = kvm ? "kvm" : "tcg";

  std::vector<std::string> a = {options.binary, "-name", "kata", "-machine"};
  if (q35) {
    a.push_back("q35");
  } else {
    // Defaults otherwise: pit must stay on (guests hang without it).
    a.push_back("microvm,x-option-roms=off");
  }
  if (c.shared_fs == SharedFsKind::kVirtioFs && !c.shared_dir.empty()) {
    a.back() += ",memory-backend=mem0";  // AddSharedDir's memfd
  }
  a.insert(a.end(),
           {"-cpu", kvm ? "host" : "max", "-m", absl::StrCat(c.memory_mib, "M"), "-smp",
            absl::StrCat(c.vcpus), "-nodefaults", "-no-user-config", "-nographic", "-no-reboot"});
  a.insert(a.end(), {"-accel", !kvm && c.tcg_tb_size_mib > 0
                                   ? absl::StrCat(accel, ",tb-size=", c.tcg_tb_size_mib)
                                   : std::string(accel)});
  if (options.start_paused) a.push_back("-S");
  if (!options.sandbox.empty()) a.insert(a.end(), {"-sandbox", options.sandbox});

  if (!c.kernel_path.empty()) {
    a.insert(a.end(), {"-kernel", c.kernel_path});
    if (!c.initrd_path.empty()) a.insert(a.end(), {"-initrd", c.initrd_path});
    // The console is virtio-console (hvc0; virtio-serial moves a page per notification where
    // the UART moves a byte), as Kata's; ttyS0 on the same socket carries what comes before.
    std::string append = "console=hvc0";
    if (!c.kernel_params.empty()) absl::StrAppend(&append, " ", c.kernel_params);
    a.insert(a.end(), {"-append", append});
  }

  if (options.console_fd >= 0) {
    // mux: the UART and the virtio console (below) write into the one socket.
    a.insert(a.end(),
             {"-chardev", absl::StrCat("socket,id=console0,fd=", options.console_fd, ",mux=on"),
              "-serial", "chardev:console0"});
  } else {
    a.insert(a.end(), {"-serial", "null"});
  }
  a.insert(a.end(), {"-qmp", absl::StrCat("unix:", EscapeOptionValue(paths.qmp_socket),
                                          ",server=on,wait=off")});

  // virtio-serial: the console (port 0, the guest's hvc0) and the agent channel.
  const bool serial_agent = c.agent_channel == AgentChannelKind::kVirtioSerial;
  if (serial_agent || options.console_fd >= 0) {
    a.insert(a.end(), {"-device", q35 ? "virtio-serial-pci,id=serial0,bus=pcie.0,addr=0x2"
                                      : "virtio-serial-device,id=serial0"});
  }
  if (options.console_fd >= 0) {
    a.insert(a.end(), {"-device", "virtconsole,bus=serial0.0,chardev=console0,id=console1"});
  }
  if (serial_agent) {
    a.insert(a.end(),
             {"-chardev",
              absl::StrCat("socket,id=agentch,path=", EscapeOptionValue(paths.agent_socket),
                           ",server=on,wait=off"),
              "-device",
              "virtserialport,bus=serial0.0,chardev=agentch,id=channel0,name=agent.channel.0"});
  }
  if (serial_agent && c.debug_console) {
    // The agent's debug console (a root shell in the guest) on a port of its own.
    a.insert(a.end(),
             {"-chardev",
              absl::StrCat("socket,id=dbgcon,path=", EscapeOptionValue(paths.debug_console_socket),
                           ",server=on,wait=off"),
              "-device",
              absl::StrCat("virtserialport,bus=serial0.0,chardev=dbgcon,id=channel1,name=",
                           kDebugConsolePortName)});
  }
  if (serial_agent && c.agent_trace) {
    // The agent's spans (length-prefixed OTLP frames) on a port of their own.
    a.insert(a.end(),
             {"-chardev",
              absl::StrCat("socket,id=agtrace,path=", EscapeOptionValue(paths.agent_trace_socket),
                           ",server=on,wait=off"),
              "-device",
              absl::StrCat("virtserialport,bus=serial0.0,chardev=agtrace,id=channel2,name=",
                           kAgentTracePortName)});
  }
  if (!serial_agent) {
    a.insert(
        a.end(),
        {"-device", absl::StrCat(q35 ? "vhost-vsock-pci,bus=pcie.0,addr=0x4" : "vhost-vsock-device",
                                 ",id=vsock0,guest-cid=", c.vsock_guest_cid,
                                 options.vhost_vsock_fd >= 0
                                     ? absl::StrCat(",vhostfd=", options.vhost_vsock_fd)
                                     : std::string())});
  }

  AddSharedDir(c, options, &a);
  AddNetDevices(c, &a);
  if (!c.entropy_source.empty()) {
    a.insert(a.end(),
             {"-object",
              absl::StrCat("rng-random,id=rng0,filename=", EscapeOptionValue(c.entropy_source)),
              "-device",
              q35 ? absl::StrFormat("virtio-rng-pci,rng=rng0,bus=pcie.0,addr=0x%x", kRngSlot)
                  : "virtio-rng-device,rng=rng0"});
  }
  if (c.reclaim_guest_freed_memory) {
    a.insert(a.end(),
             {"-device", q35 ? absl::StrFormat("virtio-balloon-pci,id=balloon0,"
                                               "free-page-reporting=on,bus=pcie.0,addr=0x%x",
                                               kBalloonSlot)
                             : "virtio-balloon-device,id=balloon0,free-page-reporting=on"});
  }

  // Hotplug root ports (q35 only; validated above).
  if (c.hotplug_slots > 0) {
    // Native PCIe hotplug instead of ACPI: Linux handles it (pciehp), and an unplug from a
    // powered-off slot (before the guest runs) completes without the guest.
    a.insert(a.end(), {"-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off"});
    for (uint32_t i = 0; i < c.hotplug_slots; ++i) {
      a.insert(a.end(), {"-device", absl::StrFormat("pcie-root-port,id=%s,bus=pcie.0,chassis=%d,"
                                                    "slot=%d,addr=0x%x",
                                                    RootPortId(i), i + 1, i + 1, RootPortSlot(i))});
    }
  }
  return a;
}

}  // namespace kata::hypervisor::qemu
