/* floor_loader OBJECT CGROUP_DIR...: loads the floor arm's empty programs (empty_floor.bpf.o),
 * links every program to every given cgroup, prints READY and waits; SIGTERM or SIGINT detaches
 * them all (the links die with the process, so a SIGKILL detaches too). */
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: floor_loader OBJECT CGROUP_DIR...\n");
		return 2;
	}
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj) != 0) {
		fprintf(stderr, "floor_loader: load %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	struct bpf_link *links[64];
	int nlinks = 0, rc = 0;
	for (int c = 2; c < argc && rc == 0; ++c) {
		int cg = open(argv[c], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cg < 0) {
			fprintf(stderr, "floor_loader: open %s: %s\n", argv[c], strerror(errno));
			rc = 1;
			break;
		}
		struct bpf_program *prog;
		bpf_object__for_each_program(prog, obj)
		{
			struct bpf_link *l = bpf_program__attach_cgroup(prog, cg);
			if (!l || nlinks == 64) {
				fprintf(stderr, "floor_loader: attach %s to %s: %s\n",
					bpf_program__name(prog), argv[c], strerror(errno));
				rc = 1;
				break;
			}
			links[nlinks++] = l;
		}
		close(cg);
	}
	if (rc == 0) {
		signal(SIGTERM, on_signal);
		signal(SIGINT, on_signal);
		printf("READY %d links\n", nlinks);
		fflush(stdout);
		while (!g_stop)
			pause();
	}
	for (int i = 0; i < nlinks; ++i)
		bpf_link__destroy(links[i]);
	bpf_object__close(obj);
	return rc;
}
