#!/bin/sh
# Makes a private CA, and certificates it signs, for taskpoold's TLS
# (docs/operations.md, "Running on a network"). Installed as taskpool-make-certs.
#
#   taskpool-make-certs DIR server NAME...   DIR/server.pem and DIR/server.key, for
#                                            each host name or IP clients dial
#                                            (localhost and 127.0.0.1 always)
#   taskpool-make-certs DIR client NAME      DIR/NAME.pem and DIR/NAME.key, a client
#                                            certificate for tls.client_ca
#
# The CA (DIR/ca.pem, and its key DIR/ca.key: keep it off the daemon's host) is made
# on first use and kept, so that a renewed certificate is trusted as the old one was.
# Clients trust DIR/ca.pem (--ca, TASKPOOL_CA). DAYS (default 397) sets how long a
# certificate is valid; the CA lasts ten years.
set -eu

usage() {
    echo "usage: taskpool-make-certs DIR server NAME... | taskpool-make-certs DIR client NAME" >&2
    exit 2
}

[ $# -ge 3 ] || usage
dir=$1 kind=$2
shift 2
days=${DAYS:-397}

case $kind in
server)
    name=server
    subject=$1
    alt=DNS:localhost,IP:127.0.0.1
    for host in "$@"; do
        case $host in
        *:* | *[0-9]) kind_of_name=IP ;;  # IPv6, or IPv4 (a DNS name ends in a letter)
        *) kind_of_name=DNS ;;
        esac
        alt="$alt,$kind_of_name:$host"
    done
    usage_ext=serverAuth
    ;;
client)
    [ $# -eq 1 ] || usage
    name=$1
    subject=$1
    alt=
    usage_ext=clientAuth
    ;;
*)
    usage
    ;;
esac

umask 077
mkdir -p "$dir"
cd "$dir"
if [ ! -f ca.pem ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
        -subj "/CN=taskpool CA $(uname -n)" -keyout ca.key -out ca.pem \
        -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
    chmod 644 ca.pem
fi

openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$subject" \
    -keyout "$name.key.new" -out "$name.csr" 2>/dev/null
{
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature"
    echo "extendedKeyUsage=$usage_ext"
    [ -z "$alt" ] || echo "subjectAltName=$alt"
} >"$name.ext"
openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days "$days" \
    -extfile "$name.ext" -out "$name.pem.new" 2>/dev/null
rm -f "$name.csr" "$name.ext"
chmod 644 "$name.pem.new"
# By rename, so that a daemon reloading on SIGHUP never reads half a file.
mv "$name.key.new" "$name.key"
mv "$name.pem.new" "$name.pem"
echo "$dir/$name.pem and $dir/$name.key: CN=$subject${alt:+, $alt}; trust $dir/ca.pem"
