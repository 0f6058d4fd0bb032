// pause: the pod sandbox's first process (the CRI "pause container"), as Kubernetes' pause
// image runs it: it holds the pod's namespaces, reaps zombies (it is PID 1 of a shared PID
// namespace) and exits 0 on SIGINT/SIGTERM. Built statically so the image needs nothing else.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

void Quit(int) { _exit(0); }

void Reap(int) {
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) {  // -v or anything: say what this is
    static const char kVersion[] = "kata-cpp pause 1.0\n";
    (void)!write(1, kVersion, sizeof(kVersion) - 1);
    return 0;
  }
  struct sigaction quit = {};
  quit.sa_handler = Quit;
  sigaction(SIGINT, &quit, nullptr);
  sigaction(SIGTERM, &quit, nullptr);
  struct sigaction reap = {};
  reap.sa_handler = Reap;
  reap.sa_flags = SA_NOCLDSTOP | SA_RESTART;
  sigaction(SIGCHLD, &reap, nullptr);
  for (;;) pause();
}
