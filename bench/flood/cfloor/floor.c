/*
 * The floor in C: what one node's tick costs on this machine with no Go
 * runtime at all (floor_c.go builds and measures it). Every 20 ms, woken
 * by the kernel from an absolute sleep, it reads each of two loopback
 * sockets until it is empty and sends a 150-byte datagram on each to the
 * other: one node's share of a two-node, two-link pair, with the fewest
 * system calls a tick can be made of. It runs until it is killed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

int main(void) {
	int fds[2];
	struct sockaddr_in addrs[2];
	for (int i = 0; i < 2; i++) {
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t len = sizeof a;
		fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&a, sizeof a) != 0 ||
		    getsockname(fds[i], (struct sockaddr *)&a, &len) != 0) {
			perror("floor: socket");
			return 1;
		}
		addrs[i] = a;
	}
	static char pkt[150], buf[9000];
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (;;) {
		next.tv_nsec += 20000000;
		if (next.tv_nsec >= 1000000000) {
			next.tv_nsec -= 1000000000;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		for (int i = 0; i < 2; i++) {
			while (recv(fds[i], buf, sizeof buf, MSG_DONTWAIT) > 0)
				;
			sendto(fds[i], pkt, sizeof pkt, MSG_DONTWAIT, (struct sockaddr *)&addrs[1 - i], sizeof addrs[1 - i]);
		}
	}
}
