using System.Net;
using System.Net.Sockets;
using System.Text;
using Miosa.HostAgent.Sandboxes;

namespace Miosa.HostAgent.Tests.Sandboxes;

/// <summary>What a sandbox must not see or reach of the host and of other sandboxes.</summary>
public sealed class IsolationTests(SandboxFixture fixture) : IClassFixture<SandboxFixture>
{
    [Fact]
    public async Task Host_secrets_and_the_data_directory_are_out_of_reach()
    {
        var client = await fixture.StartAsync();

        var run = await client.RunAsync($"ls /root; cat /etc/shadow; ls {fixture.Root}; ls /sys; echo end");

        Assert.EndsWith("end\n", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("/root", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("/etc/shadow: Permission denied", run.Stderr, StringComparison.Ordinal);
        Assert.Contains(fixture.Root, run.Stderr, StringComparison.Ordinal);
        Assert.Equal(SandboxFileError.NotFound, (await Assert.ThrowsAsync<SandboxFileException>(() => client.ListAsync(fixture.Root, CancellationToken.None))).Error);
    }

    [Fact]
    public async Task No_network_not_even_the_hosts_loopback()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            var client = await fixture.StartAsync();

            var connect = await client.RunAsync($"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)\"");
            var interfaces = await client.RunAsync("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '");

            Assert.Equal(1, connect.ExitCode);
            Assert.Contains("ConnectionRefusedError", connect.Stderr, StringComparison.Ordinal);
            Assert.False(listener.Pending());
            Assert.Equal("lo", interfaces.Stdout.Trim());
        }
        finally
        {
            listener.Stop();
        }
    }

    [Fact]
    public async Task Sandboxes_cannot_see_each_other()
    {
        var firstSpec = SandboxFixture.Spec();
        var first = await fixture.StartAsync(firstSpec);
        var second = await fixture.StartAsync();
        await first.WriteFileAsync("first-secret.txt", new MemoryStream(Encoding.UTF8.GetBytes("mine")), CancellationToken.None);
        await first.StartBackgroundAsync(ExecRequest.Shell("exec sleep 300", TimeSpan.Zero), CancellationToken.None);

        var hostPath = fixture.Driver.WorkspacePath(firstSpec.SandboxId);
        var run = await second.RunAsync($"ls /workspace; ls {hostPath}; ps -eo args; echo end");

        Assert.DoesNotContain("first-secret", run.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("sleep 300", run.Stdout, StringComparison.Ordinal);
        Assert.Contains(hostPath, run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Each_sandbox_has_its_own_host_uid()
    {
        var a = SandboxFixture.Spec();
        var b = SandboxFixture.Spec();
        var clientA = await fixture.StartAsync(a);
        var clientB = await fixture.StartAsync(b);
        await clientA.WriteFileAsync("a.txt", new MemoryStream([1]), CancellationToken.None);
        await clientB.WriteFileAsync("b.txt", new MemoryStream([1]), CancellationToken.None);

        var ownerA = await HostOwnerAsync(Path.Combine(fixture.Driver.WorkspacePath(a.SandboxId), "a.txt"));
        var ownerB = await HostOwnerAsync(Path.Combine(fixture.Driver.WorkspacePath(b.SandboxId), "b.txt"));

        Assert.NotEqual(ownerA, ownerB);
        Assert.All(new[] { ownerA, ownerB }, uid => Assert.InRange(uid, 100_000, 165_535));
    }

    [Fact]
    public async Task Nothing_can_gain_privileges_or_namespaces()
    {
        var client = await fixture.StartAsync();

        var run = await client.RunAsync("grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status | awk '{print $2}' | sort -u; unshare -U true && echo userns; echo end");

        Assert.Equal("0000000000000000\nend\n", run.Stdout);
    }

    [Fact]
    public async Task The_agent_socket_is_not_inside_the_sandbox()
    {
        var client = await fixture.StartAsync();

        var run = await client.RunAsync("ls -A /run /run/miosa; ls -l /proc/1/fd 2>&1 | grep -c sock; echo end");

        Assert.DoesNotContain("agent.sock", run.Stdout, StringComparison.Ordinal);
    }

    private static async Task<int> HostOwnerAsync(string path)
    {
        var stat = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%u", path]) { RedirectStandardOutput = true })!;
        var text = await stat.StandardOutput.ReadToEndAsync();
        await stat.WaitForExitAsync();
        return int.Parse(text.Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
