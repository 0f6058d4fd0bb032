#include "src/runtime/hypervisor/qemu/testing/multiboot_kernel.h"

#include <fstream>

namespace kata::hypervisor::qemu::testing {
namespace {

void PutLe32(std::string* image, size_t offset, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*image)[offset + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

}  // namespace

std::string SerialFloodThenPowerOff(uint32_t bytes) {
  std::string code = {
      '\xBA', '\xF8', '\x03', '\x00', '\x00',  // mov edx, 0x3f8     ; COM1 data
      '\xB9', '\x00', '\x00', '\x00', '\x00',  // mov ecx, bytes     ; (patched below)
      '\x31', '\xDB',                          // xor ebx, ebx       ; column
      // loop:
      '\xB0', 'x',             // mov al, 'x'
      '\x43',                  // inc ebx
      '\x83', '\xFB', '\x40',  // cmp ebx, 64
      '\x75', '\x04',          // jne out (+4)
      '\xB0', '\x0A',          // mov al, '\n'
      '\x31', '\xDB',          // xor ebx, ebx
      // out:
      '\xEE',                          // out dx, al
      '\x49',                          // dec ecx
      '\x75', '\xF0',                  // jnz loop (-16)
      '\x66', '\xBA', '\x04', '\x06',  // mov dx, 0x604      ; ICH9 PM1a_CNT
      '\x66', '\xB8', '\x00', '\x20',  // mov ax, 0x2000     ; SLP_EN, SLP_TYP = 0 (S5)
      '\x66', '\xEF',                  // out dx, ax
      '\xF4',                          // hlt                ; (not reached)
      '\xEB', '\xFD',                  // jmp hlt
  };
  PutLe32(&code, 6, bytes);
  return code;
}

void WriteMultibootKernel(const std::string& path, const std::string& code) {
  constexpr uint32_t kMagic = 0x1BADB002;
  constexpr uint32_t kFlags = 1u << 16;  // the address fields below are valid
  constexpr uint32_t kLoad = 0x100000;
  constexpr uint32_t kHeaderSize = 32;
  std::string image(1024, '\0');  // zero padding: QEMU probes 0x202 for a Linux header
  PutLe32(&image, 0, kMagic);
  PutLe32(&image, 4, kFlags);
  PutLe32(&image, 8, 0u - kMagic - kFlags);  // checksum: the three words sum to 0
  PutLe32(&image, 12, kLoad);                // header_addr (the header is the file's start)
  PutLe32(&image, 16, kLoad);                // load_addr
  PutLe32(&image, 20, 0);                    // load_end_addr: 0 = the whole file
  PutLe32(&image, 24, 0);                    // bss_end_addr: no bss
  PutLe32(&image, 28, kLoad + kHeaderSize);  // entry_addr: the code after the header
  image.replace(kHeaderSize, code.size(), code);
  std::ofstream(path, std::ios::binary) << image;
}

}  // namespace kata::hypervisor::qemu::testing
