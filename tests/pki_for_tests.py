"""A test-only PKI made with `cryptography`: a CA and the certificates it signs, for
tests that run real TLS servers (etcd, haproxy's health checks) outside the formulas."""

from __future__ import annotations

import contextlib
import datetime
import http.server
import ipaddress
import shutil
import ssl
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def write_key(path, key, owner=None):
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    if owner:
        shutil.chown(path, owner, owner)


def write_cert(path, cert):
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def cert(cn, ca_cert, ca_key, ips=(), usages=(), is_ca=False):
    """``(certificate, key)``: signed by ``ca_cert``/``ca_key``, or self-signed when
    they are None; ``ips`` as IP SANs, ``usages`` as extended key usages."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(ca_cert.subject if ca_cert else name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if ips:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(i)) for i in ips]),
            critical=False,
        )
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
    return builder.sign(ca_key or key, hashes.SHA256()), key


def write_ca(path, cn="vent-test-ca"):
    """A fresh self-signed CA written to ``path``: ``(certificate, key)``."""
    ca_cert, ca_key = cert(cn, None, None, is_ca=True)
    write_cert(path, ca_cert)
    return ca_cert, ca_key


@contextlib.contextmanager
def https_server(directory, handler):
    """``handler`` served over TLS on 127.0.0.1 (an ephemeral port) in a thread:
    yields ``(url, ca_path)``, the certificate (IP SAN 127.0.0.1) signed by a fresh
    test CA written to ``directory``/test-ca.crt."""
    ca_cert, ca_key = write_ca(directory / "test-ca.crt")
    srv_cert, srv_key = cert("kube-apiserver", ca_cert, ca_key, ips=("127.0.0.1",))
    write_cert(directory / "srv.crt", srv_cert)
    write_key(directory / "srv.key", srv_key)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(directory / "srv.crt", directory / "srv.key")
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", directory / "test-ca.crt"
    finally:
        server.shutdown()
        server.server_close()
