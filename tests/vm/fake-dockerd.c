// fake-dockerd: the few Docker Engine API answers the agent asks for, from a daemon using the
// systemd cgroup driver that runs no container (the VM has no systemd, so a real dockerd with
// that driver could run none). Installed as /test/dockerd: the agent reads the daemon's flags
// (--cgroup-parent) only from a process whose argv[0] ends in "dockerd".
// Static, no dependencies: cc -static -O2 -Wall -o dockerd fake-dockerd.c
//
//   dockerd --cgroup-parent SLICE -H SOCKET
//
// One process per connection (keep-alive requests answered in turn); GET /events answers
// headers and then holds the stream open, as the engine does while nothing happens.
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void reply(int fd, const char *status, const char *type, const char *body) {
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Api-Version: 1.41\r\n\r\n",
			 status, type, strlen(body));
	if (write(fd, head, n) != n || write(fd, body, strlen(body)) < 0)
		_exit(0);
}

static void serve(int fd) {
	char buf[8192];
	size_t used = 0;
	for (;;) {
		char *end = memmem(buf, used, "\r\n\r\n", 4);
		if (!end) {
			if (used == sizeof(buf))
				_exit(0);
			ssize_t n = read(fd, buf + used, sizeof(buf) - used);
			if (n <= 0)
				_exit(0);
			used += n;
			continue;
		}
		*end = 0;
		char path[1024] = "";
		sscanf(buf, "GET %1023s", path);
		char *query = strchr(path, '?');
		if (query)
			*query = 0;
		size_t len = strlen(path);
#define ENDS(s) (len >= strlen(s) && strcmp(path + len - strlen(s), s) == 0)
		if (ENDS("/_ping")) {
			reply(fd, "200 OK", "text/plain", "OK");
		} else if (ENDS("/version")) {
			reply(fd, "200 OK", "application/json", "{\"ApiVersion\":\"1.41\",\"Version\":\"fake\"}");
		} else if (ENDS("/info")) {
			reply(fd, "200 OK", "application/json",
			      "{\"CgroupDriver\":\"systemd\",\"CgroupVersion\":\"2\",\"Containers\":0}");
		} else if (ENDS("/containers/json")) {
			reply(fd, "200 OK", "application/json", "[]");
		} else if (ENDS("/events")) {
			const char *head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
					   "Transfer-Encoding: chunked\r\nApi-Version: 1.41\r\n\r\n";
			if (write(fd, head, strlen(head)) < 0)
				_exit(0);
			for (;;)
				pause();
		} else {
			reply(fd, "404 Not Found", "application/json", "{\"message\":\"not here\"}");
		}
		size_t consumed = (size_t)(end + 4 - buf);
		memmove(buf, buf + consumed, used - consumed);
		used -= consumed;
	}
}

int main(int argc, char **argv) {
	const char *path = NULL;
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "-H") == 0)
			path = argv[i + 1];
	if (!path) {
		fprintf(stderr, "usage: dockerd --cgroup-parent SLICE -H SOCKET\n");
		return 2;
	}
	signal(SIGCHLD, SIG_IGN); // no zombies
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	strncpy(addr.sun_path, path, sizeof(addr.sun_path) - 1);
	unlink(path);
	if (s < 0 || bind(s, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(s, 16) != 0) {
		perror(path);
		return 2;
	}
	for (;;) {
		int fd = accept(s, NULL, NULL);
		if (fd < 0)
			continue;
		if (fork() == 0) {
			close(s);
			serve(fd);
		}
		close(fd);
	}
}
