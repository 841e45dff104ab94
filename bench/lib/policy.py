"""Policy texts for the benchmarks: N egress entries for a zone, inline while the file stays
small, else through `cidrFile:` (one CIDR per line, relative to the policy's directory; the
policy file itself is capped at 1 MiB)."""
import os

# Past this many entries the allowlist goes to a cidrFile (inline, ~55 bytes an entry).
INLINE_MAX = 10000


def bulk_cidr(i):
    """The i-th (i >= 1) bulk /32 of 10.0.0.0/8: destinations no packet is ever sent to."""
    return "10.%d.%d.%d/32" % ((i >> 16) & 255, (i >> 8) & 255, i & 255)


def bulk_addr(i):
    return bulk_cidr(i)[:-3]


def _list_file(workdir, fname, what, count, item):
    """WORKDIR/FNAME: a comment line, then item(1) ... item(count), one a line; returns FNAME
    (relative: cidrFile and addressFile are read from the policy file's directory)."""
    with open(os.path.join(workdir, fname), "w") as f:
        f.write("# %d bulk %s for the benchmark (never sent to)\n" % (count, what))
        f.write("\n".join(item(i) for i in range(1, count + 1)))
        f.write("\n")
    return fname


def egress_lines(workdir, name, n, allowed_cidr, protocol="udp", port=443, indent=8):
    """The YAML lines of an egress list of n entries: n-1 bulk /32s, then `allowed_cidr` last
    (a linear matcher's worst case). Large lists go to WORKDIR/NAME.cidrs (cidrFile)."""
    pad = " " * indent
    rule = "{%%s, protocol: %s, ports: [%d]}" % (protocol, port)
    lines = []
    bulk = n - 1
    if bulk > INLINE_MAX:
        fname = _list_file(workdir, name + ".cidrs", "egress entries", bulk, bulk_cidr)
        lines.append(pad + "- " + rule % ("cidrFile: " + fname))
    else:
        lines += [pad + "- " + rule % ("cidr: " + bulk_cidr(i)) for i in range(1, bulk + 1)]
    lines.append(pad + "- " + rule % ("cidr: " + allowed_cidr))
    return lines


def document(name, body, mode="enforce"):
    """A GuardrailPolicy whose spec is `mode` plus the YAML text `body` (spec members, indented
    two spaces)."""
    return ("apiVersion: guardrail.io/v1alpha1\nkind: GuardrailPolicy\nmetadata: {name: %s}\n"
            "spec:\n  mode: %s\n%s" % (name, mode, body))


def address_workload(workdir, name, zone, n, last_addr):
    """The flow-style YAML of a workload with n static addresses (n-1 bulk addresses of
    10.0.0.0/8, then `last_addr`): inline while small, else an addressFile plus the last one."""
    bulk = n - 1
    if bulk > INLINE_MAX:
        fname = _list_file(workdir, name + ".addresses", "workload addresses", bulk,
                           bulk_addr)
        return ("{name: %s, zone: %s, addressFile: %s, addresses: [%s]}"
                % (name, zone, fname, last_addr))
    addrs = [bulk_addr(i) for i in range(1, bulk + 1)] + [last_addr]
    return "{name: %s, zone: %s, addresses: [%s]}" % (name, zone, ", ".join(addrs))
