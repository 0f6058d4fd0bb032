// Tiny guests for tests of the QEMU driver: multiboot (v1) kernels written by the test, in the
// "a.out kludge" layout (the header gives the load addresses, no ELF), loaded at 1 MiB and
// entered in 32-bit protected mode. QEMU's -kernel loads them on q35 without firmware setup.
//
//   WriteMultibootKernel(path, SerialFloodThenPowerOff(8 << 20));
//
// Powering off: SeaBIOS enables the q35 ACPI PM block at I/O port 0x600, and writing SLP_EN
// with SLP_TYP 0 (S5) to PM1a_CNT (0x604) is the guest-visible ACPI power-off; QEMU sends
// SHUTDOWN {"guest":true,...} and exits 0.
#ifndef KATA_SRC_RUNTIME_HYPERVISOR_QEMU_TESTING_MULTIBOOT_KERNEL_H_
#define KATA_SRC_RUNTIME_HYPERVISOR_QEMU_TESTING_MULTIBOOT_KERNEL_H_

#include <cstdint>
#include <string>

namespace kata::hypervisor::qemu::testing {

// 32-bit code: write `bytes` bytes ('x', a '\n' after each 63) to COM1's data port (0x3f8)
// without waiting for the UART, then power off.
std::string SerialFloodThenPowerOff(uint32_t bytes);

// Writes a kernel file running `code` (at most ~900 bytes).
void WriteMultibootKernel(const std::string& path, const std::string& code);

}  // namespace kata::hypervisor::qemu::testing

#endif  // KATA_SRC_RUNTIME_HYPERVISOR_QEMU_TESTING_MULTIBOOT_KERNEL_H_
