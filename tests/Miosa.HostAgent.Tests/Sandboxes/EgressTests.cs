using System.Net;
using System.Net.Sockets;
using System.Text;
using Miosa.HostAgent.Sandboxes;

namespace Miosa.HostAgent.Tests.Sandboxes;

/// <summary>
/// allow_internet: slirp4netns egress with the host's loopback, private ranges and own addresses
/// filtered out. Every sandbox's slirp4netns runs in a network namespace this fixture made
/// (<see cref="JailSandboxOptions.EgressNetworkNamespace"/>), so no packet leaves it: 203.0.113.10
/// stands for the internet and 10.99.0.1 for a private network, both on its own veth.
/// </summary>
public sealed class EgressTests(EgressFixture fixture) : IClassFixture<EgressFixture>
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task Without_allow_internet_there_is_no_route_out()
    {
        var client = await fixture.StartAsync(SandboxFixture.Spec());
        var before = fixture.Web.Connections;

        var probe = await ProbeAsync(client, $"tcp:203.0.113.10:{fixture.Web.Port}", "udp:203.0.113.10:53");
        var interfaces = await client.RunAsync("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '");

        Assert.Equal("fail 101", probe[$"tcp:203.0.113.10:{fixture.Web.Port}"]);
        Assert.Equal("fail 101", probe["udp:203.0.113.10:53"]);
        Assert.Equal("lo", interfaces.Stdout.Trim());
        Assert.Equal(before, fixture.Web.Connections);
    }

    [Fact]
    public async Task With_allow_internet_the_sandbox_fetches_from_outside()
    {
        var spec = SandboxFixture.Spec() with { AllowInternet = true };
        var client = await fixture.StartAsync(spec);

        var fetch = await client.RunAsync($"curl -sS -m 10 http://203.0.113.10:{fixture.Web.Port}/");
        var network = await client.RunAsync("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort; cat /etc/resolv.conf; ip -4 -o addr show tap0 | awk '{print $4}'; ip route");
        var dns = await ProbeAsync(client, "udp:10.0.2.3:53", "udp:10.0.2.4:53");

        Assert.Equal(0, fetch.ExitCode);
        Assert.Equal(EgressFixture.WebBody, fetch.Stdout);
        Assert.StartsWith("lo\ntap0\nnameserver 10.0.2.3\n10.0.2.100/24\ndefault via 10.0.2.2 dev tap0", network.Stdout, StringComparison.Ordinal);
        // slirp's DNS forwarder passes the filter; the rest of its network does not.
        Assert.Equal("sent", dns["udp:10.0.2.3:53"]);
        Assert.Equal("fail 1", dns["udp:10.0.2.4:53"]);
        // slirp4netns connects out from the test namespace, never from the host's.
        var slirp = Assert.Single(SlirpPids(spec.SandboxId));
        Assert.Equal(await InodeAsync(fixture.Namespace.Path), await InodeAsync($"/proc/{slirp}/ns/net"));
    }

    [Fact]
    public async Task The_hosts_loopback_private_ranges_and_node_addresses_stay_out_of_reach()
    {
        using var hostLoopback = new TcpListener(IPAddress.Loopback, 0);
        hostLoopback.Start();
        var hostPort = ((IPEndPoint)hostLoopback.LocalEndpoint).Port;
        var client = await fixture.StartAsync(SandboxFixture.Spec() with { AllowInternet = true });
        var before = (fixture.Private.Connections, fixture.NamespaceLoopback.Connections);
        var nodeAddresses = SandboxEgress.NodeAddresses().Where(a => !IPAddress.IsLoopback(a)).Select(a => a.ToString()).ToList();

        string[] refused =
        [
            // The host's loopback through slirp's gateway: the node's and the egress namespace's.
            $"tcp:10.0.2.2:{hostPort}", $"tcp:10.0.2.2:{fixture.NamespaceLoopback.Port}",
            // A private network the egress namespace reaches.
            $"tcp:10.99.0.1:{fixture.Private.Port}", "udp:10.99.0.1:53",
            "udp:10.0.2.2:53", "udp:169.254.169.254:80", "udp:172.16.0.1:53", "udp:192.168.1.1:53", "udp:100.64.0.1:53",
            "udp:224.0.0.251:5353", "udp:240.0.0.1:53", .. nodeAddresses.Select(a => $"udp:{a}:{hostPort}"),
        ];
        var probe = await ProbeAsync(client, [$"tcp:203.0.113.10:{fixture.Web.Port}", .. refused, "tcp:[fd00::1]:80", "udp:[ff02::1%tap0]:53", "udp:[fe80::1%tap0]:53"]);

        Assert.Equal("connected", probe[$"tcp:203.0.113.10:{fixture.Web.Port}"]);
        // Refused by the filter in the sandbox's namespace: EHOSTUNREACH (113) for TCP, EPERM (1) for UDP.
        Assert.All(refused, target => Assert.Equal(target.StartsWith("tcp", StringComparison.Ordinal) ? "fail 113" : "fail 1", probe[target]));
        // No IPv6 egress: tap0 has no IPv6 address (and the filter would refuse it).
        Assert.All(new[] { "tcp:[fd00::1]:80", "udp:[ff02::1%tap0]:53", "udp:[fe80::1%tap0]:53" }, target => Assert.StartsWith("fail ", probe[target], StringComparison.Ordinal));
        Assert.DoesNotContain("tap0", (await client.RunAsync("cat /proc/net/if_inet6")).Stdout, StringComparison.Ordinal);
        Assert.False(hostLoopback.Pending());
        Assert.Equal(before, (fixture.Private.Connections, fixture.NamespaceLoopback.Connections));
    }

    [Fact]
    public async Task The_sandbox_user_cannot_change_the_filter_or_the_network()
    {
        var spec = SandboxFixture.Spec() with { AllowInternet = true };
        var client = await fixture.StartAsync(spec);

        string[] commands =
        [
            "nft flush ruleset", "nft delete table inet miosa_egress", "ip route add 10.99.0.0/24 dev tap0",
            "ip addr add 10.99.0.5/24 dev tap0", "ip link set tap0 down", "unshare -n true", "unshare -rn true",
        ];
        var attempts = await client.RunAsync(string.Concat(commands.Select(c => $"if {c} 2>err.txt; then echo 'allowed: {c}'; else echo \"refused: $(head -n 1 err.txt)\"; fi; ")));
        var probe = await ProbeAsync(client, $"tcp:203.0.113.10:{fixture.Web.Port}", $"tcp:10.99.0.1:{fixture.Private.Port}");
        var rules = await TestNetworkNamespace.RunProgramAsync("nsenter", [$"--net=/proc/{fixture.Driver.Find(spec.SandboxId)!.HostPid}/ns/net", "nft", "list", "ruleset"]);

        var answers = attempts.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(commands.Length, answers.Length);
        Assert.All(answers, answer => Assert.StartsWith("refused: ", answer, StringComparison.Ordinal));
        Assert.Contains("Operation not permitted", answers[0], StringComparison.Ordinal);
        Assert.Contains("Operation not permitted", answers[2], StringComparison.Ordinal);
        Assert.Equal("connected", probe[$"tcp:203.0.113.10:{fixture.Web.Port}"]);
        Assert.Equal("fail 113", probe[$"tcp:10.99.0.1:{fixture.Private.Port}"]);
        Assert.Contains("table inet miosa_egress", rules, StringComparison.Ordinal);
        Assert.Contains("10.0.0.0/8", rules, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Slirp4netns_lives_and_dies_with_its_sandbox()
    {
        var spec = SandboxFixture.Spec() with { AllowInternet = true };
        var client = await fixture.StartAsync(spec);
        var first = Assert.Single(SlirpPids(spec.SandboxId));

        // Killed behind the driver's back: started again, and the sandbox is online again.
        HostSyscalls.Signal(first, HostSyscalls.SigKill);
        var deadline = DateTime.UtcNow.AddSeconds(15);
        ExecOutput fetch;
        do
        {
            await Task.Delay(200);
            fetch = await client.RunAsync($"curl -sS -m 2 http://203.0.113.10:{fixture.Web.Port}/");
        }
        while (fetch.ExitCode != 0 && DateTime.UtcNow < deadline);
        Assert.Equal(EgressFixture.WebBody, fetch.Stdout);
        var second = Assert.Single(SlirpPids(spec.SandboxId));
        Assert.NotEqual(first, second);

        // Stopped with the sandbox, started again with it (as after a node restart), gone with it.
        await fixture.Driver.StopAsync(spec.SandboxId, None);
        Assert.False(IsSlirp(second));
        await using (var restarted = fixture.NewDriver())
        {
            var sandbox = await restarted.StartAsync(spec, None);
            var again = await new SandboxAgentClient(sandbox.AgentSocket).RunAsync($"curl -sS -m 10 http://203.0.113.10:{fixture.Web.Port}/");
            Assert.Equal(EgressFixture.WebBody, again.Stdout);
            var third = Assert.Single(SlirpPids(spec.SandboxId, restarted));
            // Frozen with its sandbox (it is in its cgroups), and still gone at once with it.
            Assert.True(restarted.Suspend(spec.SandboxId));
            var destroy = System.Diagnostics.Stopwatch.StartNew();
            await restarted.DestroyAsync(spec.SandboxId, None);
            Assert.False(IsSlirp(third));
            Assert.True(destroy.Elapsed < TimeSpan.FromSeconds(3), $"destroy took {destroy.Elapsed}");
        }
    }

    [Fact]
    public void The_filter_names_every_blocked_range_and_the_nodes_own_addresses()
    {
        var rules = SandboxEgress.Ruleset([IPAddress.Parse("198.51.100.7"), IPAddress.Parse("10.1.2.3"), IPAddress.Parse("127.0.0.1"), IPAddress.IPv6Loopback]);

        foreach (var range in (string[])["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10", "127.0.0.0/8"])
        {
            Assert.Contains(range, rules, StringComparison.Ordinal);
        }

        Assert.Contains("meta nfproto ipv6 reject", rules, StringComparison.Ordinal);
        Assert.Contains("ip daddr { 198.51.100.7 } reject", rules, StringComparison.Ordinal);
        Assert.DoesNotContain("10.1.2.3", rules, StringComparison.Ordinal);
        // DNS to slirp's forwarder comes before the 10/8 rule that would refuse it.
        Assert.True(rules.IndexOf("ip daddr 10.0.2.3", StringComparison.Ordinal) < rules.IndexOf("10.0.0.0/8", StringComparison.Ordinal));
    }

    private const string ProbeScript = """
        import socket, sys
        for target in sys.argv[1:]:
            proto, rest = target.split(':', 1)
            host, port = rest.rsplit(':', 1)
            host = host.strip('[]')
            family = socket.AF_INET6 if ':' in host else socket.AF_INET
            s = socket.socket(family, socket.SOCK_STREAM if proto == 'tcp' else socket.SOCK_DGRAM)
            s.settimeout(5)
            try:
                if proto == 'tcp':
                    s.connect((host, int(port)))
                    print(target, 'connected')
                else:
                    s.sendto(b'probe', (host, int(port)))
                    print(target, 'sent')
            except socket.timeout:
                print(target, 'timeout')
            except OSError as e:
                print(target, 'fail', e.errno)
            finally:
                s.close()
        """;

    /// <summary>Connects (tcp:) or sends one datagram (udp:) to each target from inside the sandbox.</summary>
    private static async Task<Dictionary<string, string>> ProbeAsync(SandboxAgentClient client, params string[] targets)
    {
        await client.WriteFileAsync("probe.py", new MemoryStream(Encoding.UTF8.GetBytes(ProbeScript)), None);
        var run = await client.RunAsync(new ExecRequest(["python3", "probe.py", .. targets], null, new Dictionary<string, string>(), TimeSpan.FromSeconds(60), null));
        Assert.True(run.ExitCode == 0, run.Stderr);
        return run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' ', 2))
            .ToDictionary(parts => parts[0], parts => parts[1]);
    }

    private IReadOnlyList<int> SlirpPids(string sandboxId, JailSandboxDriver? driver = null) =>
        ((driver ?? fixture.Driver).Cgroups.Open(sandboxId)?.ReadPids() ?? []).Where(IsSlirp).ToList();

    private static bool IsSlirp(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").Trim() == "slirp4netns";
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static async Task<string> InodeAsync(string path) =>
        (await TestNetworkNamespace.RunProgramAsync("stat", ["-L", "-c", "%i", path])).Trim();

}

/// <summary>A jail driver whose sandboxes' egress leaves through a test namespace with a web server.</summary>
public sealed class EgressFixture : IAsyncLifetime
{
    public const string WebBody = "hello from 203.0.113.10";
    private readonly string _temp = Path.Combine(Path.GetTempPath(), "miosa-tests-" + Guid.NewGuid().ToString("N")[..12]);
    private readonly string _cgroupParent = "miosa-test-" + Guid.NewGuid().ToString("N")[..12];

    public TestNetworkNamespace Namespace { get; private set; } = null!;

    public JailSandboxDriver Driver { get; private set; } = null!;

    /// <summary>"The internet": 203.0.113.10 (a documentation address) in the test namespace.</summary>
    public TestServer Web { get; private set; } = null!;

    /// <summary>A private network's server: 10.99.0.1 in the test namespace.</summary>
    public TestServer Private { get; private set; } = null!;

    /// <summary>127.0.0.1 of the test namespace: what slirp's gateway 10.0.2.2 would lead to.</summary>
    public TestServer NamespaceLoopback { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Namespace = await TestNetworkNamespace.CreateAsync("203.0.113.10/24", "10.99.0.1/24");
        Web = Namespace.Listen(IPAddress.Parse("203.0.113.10"), body: WebBody);
        Private = Namespace.Listen(IPAddress.Parse("10.99.0.1"));
        NamespaceLoopback = Namespace.Listen(IPAddress.Loopback);
        Driver = NewDriver();
    }

    /// <summary>Another driver on the same root, cgroups and egress namespace, as after a node restart.</summary>
    public JailSandboxDriver NewDriver() =>
        new(Path.Combine(_temp, "sandboxes"), new JailSandboxOptions { CgroupParent = _cgroupParent, EgressNetworkNamespace = Namespace.Path });

    public async Task<SandboxAgentClient> StartAsync(SandboxSpec spec)
    {
        var sandbox = await Driver.StartAsync(spec, CancellationToken.None);
        return new SandboxAgentClient(sandbox.AgentSocket);
    }

    public async Task DisposeAsync()
    {
        try
        {
            if (Driver is not null && Directory.Exists(Driver.RootDirectory))
            {
                foreach (var id in Directory.GetDirectories(Driver.RootDirectory).Select(Path.GetFileName).Where(n => n!.StartsWith("sbx_", StringComparison.Ordinal)))
                {
                    await Driver.DestroyAsync(id!, CancellationToken.None);
                }
            }

            foreach (var parent in Directory.GetDirectories("/sys/fs/cgroup").Select(d => Path.Combine(d, _cgroupParent)).Append(Path.Combine("/sys/fs/cgroup", _cgroupParent)))
            {
                if (Directory.Exists(parent))
                {
                    Directory.Delete(parent);
                }
            }

            if (Directory.Exists(_temp))
            {
                Directory.Delete(_temp, recursive: true);
            }
        }
        finally
        {
            if (Namespace is not null)
            {
                await Namespace.DisposeAsync();
            }
        }
    }
}
