#!/bin/sh
# What a check-mode run of the monitoring role must leave alone: files under /etc, /opt,
# /srv and /var/lib/node_exporter (path, type, mode, owner, size, mtime), and the inner
# Docker engine's containers, images, volumes and networks.
set -eu
find /etc /opt /srv /var/lib/node_exporter -xdev -printf '%p %y %m %U:%G %s %T@ %l\n' 2>/dev/null | sort
echo "## containers"
docker ps -a --format '{{.Names}} {{.Image}} {{.Status}}' | sed 's/ Up .*/ Up/' | sort
echo "## images"
docker images --format '{{.Repository}}:{{.Tag}} {{.ID}}' | sort
echo "## volumes"
docker volume ls --format '{{.Name}}' | sort
echo "## networks"
docker network ls --format '{{.Name}}' | sort
