// loopsnap: a containerd snapshotter (a proxy plugin over gRPC) whose snapshots are ext4
// images on loop devices, so containerd hands the runtime a block-device rootfs: one mount
// {type: ext4, source: /dev/loopN}, what its devmapper snapshotter gives. It stands in for
// devmapper on hosts whose kernel has no device-mapper (the CI machine). Test use only.
//
//	loopsnap ROOT SOCKET
//
// Each snapshot is ROOT/images/<id>.img (a sparse file of -size bytes, mkfs.ext4 when it has no
// parent, a sparse copy of its parent otherwise); an active or view snapshot is attached to a
// loop device while it exists; a committed one is detached. Metadata: containerd's own
// snapshot MetaStore (bolt) in ROOT/metadata.db.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/contrib/snapshotservice"
	"github.com/containerd/containerd/mount"
	"github.com/containerd/containerd/snapshots"
	"github.com/containerd/containerd/snapshots/storage"
	"google.golang.org/grpc"
)

var size = flag.String("size", "128M", "size of each snapshot's ext4 image")

type loopSnapshotter struct {
	root string
	ms   *storage.MetaStore
	mu   sync.Mutex
}

func run(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

func (s *loopSnapshotter) image(id string) string {
	return filepath.Join(s.root, "images", id+".img")
}

// The loop devices attached to the image of snapshot id.
func (s *loopSnapshotter) loops(id string) []string {
	out, err := run("losetup", "-n", "-O", "NAME", "-j", s.image(id))
	if err != nil || out == "" {
		return nil
	}
	return strings.Fields(out)
}

// Whether anything has dev open or mounted (a process's fd, a mount, a holder): the kernel
// would take `losetup -d` then as "detach when closed" and report success.
func inUse(dev string) bool {
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && target == dev {
			return true
		}
	}
	if mounts, err := os.ReadFile("/proc/self/mountinfo"); err == nil &&
		strings.Contains(string(mounts), " "+dev+" ") {
		return true
	}
	holders, _ := os.ReadDir(filepath.Join("/sys/block", filepath.Base(dev), "holders"))
	return len(holders) > 0
}

func (s *loopSnapshotter) detach(id string) error {
	for _, l := range s.loops(id) {
		if inUse(l) {
			return fmt.Errorf("snapshot %s: %s is in use", id, l)
		}
		if _, err := run("losetup", "-d", l); err != nil {
			return err
		}
	}
	return nil
}

func (s *loopSnapshotter) mounts(id string, kind snapshots.Kind) ([]mount.Mount, error) {
	l := s.loops(id)
	dev := ""
	if len(l) > 0 {
		dev = l[0]
	} else {
		var err error
		if dev, err = run("losetup", "-f", "--show", s.image(id)); err != nil {
			return nil, err
		}
	}
	var opts []string
	if kind == snapshots.KindView {
		opts = []string{"ro"}
	}
	return []mount.Mount{{Type: "ext4", Source: dev, Options: opts}}, nil
}

func (s *loopSnapshotter) Stat(ctx context.Context, key string) (snapshots.Info, error) {
	ctx, t, err := s.ms.TransactionContext(ctx, false)
	if err != nil {
		return snapshots.Info{}, err
	}
	defer t.Rollback()
	_, info, _, err := storage.GetInfo(ctx, key)
	return info, err
}

func (s *loopSnapshotter) Update(ctx context.Context, info snapshots.Info, fieldpaths ...string) (snapshots.Info, error) {
	ctx, t, err := s.ms.TransactionContext(ctx, true)
	if err != nil {
		return snapshots.Info{}, err
	}
	info, err = storage.UpdateInfo(ctx, info, fieldpaths...)
	if err != nil {
		t.Rollback()
		return snapshots.Info{}, err
	}
	return info, t.Commit()
}

func (s *loopSnapshotter) Usage(ctx context.Context, key string) (snapshots.Usage, error) {
	ctx, t, err := s.ms.TransactionContext(ctx, false)
	if err != nil {
		return snapshots.Usage{}, err
	}
	defer t.Rollback()
	id, _, _, err := storage.GetInfo(ctx, key)
	if err != nil {
		return snapshots.Usage{}, err
	}
	var st syscall.Stat_t
	if err := syscall.Stat(s.image(id), &st); err != nil {
		return snapshots.Usage{}, err
	}
	return snapshots.Usage{Size: st.Blocks * 512, Inodes: 1}, nil
}

func (s *loopSnapshotter) Mounts(ctx context.Context, key string) ([]mount.Mount, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, t, err := s.ms.TransactionContext(ctx, false)
	if err != nil {
		return nil, err
	}
	defer t.Rollback()
	sn, err := storage.GetSnapshot(ctx, key)
	if err != nil {
		return nil, err
	}
	return s.mounts(sn.ID, sn.Kind)
}

func (s *loopSnapshotter) Prepare(ctx context.Context, key, parent string, opts ...snapshots.Opt) ([]mount.Mount, error) {
	return s.create(ctx, snapshots.KindActive, key, parent, opts)
}

func (s *loopSnapshotter) View(ctx context.Context, key, parent string, opts ...snapshots.Opt) ([]mount.Mount, error) {
	return s.create(ctx, snapshots.KindView, key, parent, opts)
}

func (s *loopSnapshotter) create(ctx context.Context, kind snapshots.Kind, key, parent string, opts []snapshots.Opt) ([]mount.Mount, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, t, err := s.ms.TransactionContext(ctx, true)
	if err != nil {
		return nil, err
	}
	sn, err := storage.CreateSnapshot(ctx, kind, key, parent, opts...)
	if err != nil {
		t.Rollback()
		return nil, err
	}
	img := s.image(sn.ID)
	if len(sn.ParentIDs) == 0 {
		_, err = run("truncate", "-s", *size, img)
		if err == nil {
			_, err = run("mkfs.ext4", "-q", "-F", "-E", "root_owner=0:0", img)
		}
	} else {
		_, err = run("cp", "--sparse=always", s.image(sn.ParentIDs[0]), img)
	}
	var m []mount.Mount
	if err == nil {
		m, err = s.mounts(sn.ID, kind)
	}
	if err != nil {
		t.Rollback()
		os.Remove(img)
		return nil, err
	}
	return m, t.Commit()
}

func (s *loopSnapshotter) Commit(ctx context.Context, name, key string, opts ...snapshots.Opt) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, t, err := s.ms.TransactionContext(ctx, true)
	if err != nil {
		return err
	}
	id, _, _, err := storage.GetInfo(ctx, key)
	if err == nil {
		err = s.detach(id)
	}
	if err == nil {
		_, err = storage.CommitActive(ctx, key, name, snapshots.Usage{}, opts...)
	}
	if err != nil {
		t.Rollback()
		return err
	}
	return t.Commit()
}

func (s *loopSnapshotter) Remove(ctx context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, t, err := s.ms.TransactionContext(ctx, true)
	if err != nil {
		return err
	}
	id, _, err := storage.Remove(ctx, key)
	if err == nil {
		err = s.detach(id) // refused while the device is in use (a VM holding it)
	}
	if err != nil {
		t.Rollback()
		return err
	}
	if err := t.Commit(); err != nil {
		return err
	}
	return os.Remove(s.image(id))
}

func (s *loopSnapshotter) Walk(ctx context.Context, fn snapshots.WalkFunc, fs ...string) error {
	ctx, t, err := s.ms.TransactionContext(ctx, false)
	if err != nil {
		return err
	}
	defer t.Rollback()
	return storage.WalkInfo(ctx, fn, fs...)
}

func (s *loopSnapshotter) Close() error { return s.ms.Close() }

func main() {
	flag.Parse()
	if flag.NArg() != 2 {
		log.Fatal("usage: loopsnap [-size N] ROOT SOCKET")
	}
	root, sock := flag.Arg(0), flag.Arg(1)
	if err := os.MkdirAll(filepath.Join(root, "images"), 0700); err != nil {
		log.Fatal(err)
	}
	ms, err := storage.NewMetaStore(filepath.Join(root, "metadata.db"))
	if err != nil {
		log.Fatal(err)
	}
	sn := &loopSnapshotter{root: root, ms: ms}
	os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer()
	snapshotsapi.RegisterSnapshotsServer(srv, snapshotservice.FromSnapshotter(sn))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		srv.Stop()
	}()
	if err := srv.Serve(l); err != nil {
		log.Fatal(err)
	}
	sn.Close()
}
