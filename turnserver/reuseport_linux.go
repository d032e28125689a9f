package turnserver

// SO_REUSEPORT lets udp_sockets sockets share each listen_udp port; Linux
// only lets sockets of the same user join the group.
const reusePortSupported = true
