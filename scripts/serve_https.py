"""Serve the dashboard over HTTPS, so browsers on other machines allow the camera.

Browsers give a page camera access only in a secure context: http://localhost, or HTTPS. The plain
server's "Network URL" (http://<LAN address>:8501) loads but can't stream. This script makes a
self-signed certificate once (``.streamlit/https/``, kept out of git; any real certificate can be
passed instead) and runs ``streamlit run app.py`` with Streamlit's ``server.sslCertFile`` and
``server.sslKeyFile`` set. Each visitor's browser asks once to accept the self-signed certificate.

    python scripts/serve_https.py                 # https://<this machine>:8501
    python scripts/serve_https.py --name fer.lan  # also valid for that host name
    python scripts/serve_https.py --cert c.pem --key k.pem -- --server.port 8443
"""
from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
import socket
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CERT_DIR = REPO / ".streamlit" / "https"


def local_names() -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) this machine answers to: localhost, its host name, its addresses."""
    names = {"localhost", socket.gethostname(), socket.getfqdn()}
    ips = {"127.0.0.1", "::1"}
    try:
        ips.update(info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None))
    except OSError:
        pass
    return sorted(n for n in names if n), sorted(ips)


def make_self_signed(cert: Path, key: Path, names: list[str], ips: list[str], days: int = 825) -> None:
    """A self-signed certificate (ECDSA P-256) valid for ``names`` and ``ips``; the key is private (0600)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "localhost")])
    alt = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i.split("%")[0])) for i in ips]
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                   .public_key(private.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
                   .add_extension(x509.SubjectAlternativeName(alt), critical=False)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .sign(private, hashes.SHA256()))
    cert.parent.mkdir(parents=True, exist_ok=True)
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    key.chmod(0o600)
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--cert", type=Path, default=CERT_DIR / "cert.pem", help="certificate (PEM); made if missing")
    p.add_argument("--key", type=Path, default=CERT_DIR / "key.pem", help="its private key (PEM); made if missing")
    p.add_argument("--name", action="append", default=[], help="extra host name or IP the certificate is for")
    p.add_argument("--new-cert", action="store_true", help="make a fresh self-signed certificate")
    p.add_argument("streamlit_args", nargs="*", help="passed on to streamlit run (after --)")
    args = p.parse_args(argv)
    if args.new_cert or not (args.cert.is_file() and args.key.is_file()):
        names, ips = local_names()
        for extra in args.name:
            try:
                ipaddress.ip_address(extra)
                ips.append(extra)
            except ValueError:
                names.append(extra)
        make_self_signed(args.cert, args.key, names, ips)
        print(f"made a self-signed certificate for {', '.join(names + ips)}: {args.cert}", flush=True)
    cmd = [sys.executable, str(REPO / "deploy" / "launch.py"),
           f"--server.sslCertFile={args.cert}", f"--server.sslKeyFile={args.key}", *args.streamlit_args]
    os.chdir(REPO)
    os.execv(sys.executable, cmd)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
