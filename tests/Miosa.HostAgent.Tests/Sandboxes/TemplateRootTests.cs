using Miosa.HostAgent.Sandboxes;

namespace Miosa.HostAgent.Tests.Sandboxes;

/// <summary>
/// A template's system root is what the sandbox sees as its system: here a tiny root holding only a
/// static busybox (Debian's busybox-static), standing for an operator's own image.
/// </summary>
public sealed class TemplateRootTests : IAsyncLifetime
{
    private readonly SandboxFixture _fixture = new();
    private readonly string _root = Path.Combine(Path.GetTempPath(), "miosa-tiny-root-" + Guid.NewGuid().ToString("N")[..8]);

    public async Task InitializeAsync()
    {
        await _fixture.InitializeAsync();
        Directory.CreateDirectory(Path.Combine(_root, "usr", "bin"));
        Directory.CreateDirectory(Path.Combine(_root, "etc"));
        File.Copy("/usr/bin/busybox", Path.Combine(_root, "usr", "bin", "busybox"));
        foreach (var tool in new[] { "sh", "ls", "cat", "id" })
            File.CreateSymbolicLink(Path.Combine(_root, "usr", "bin", tool), "busybox");
        File.CreateSymbolicLink(Path.Combine(_root, "bin"), "usr/bin");
        File.WriteAllText(Path.Combine(_root, "etc", "os-release"), "NAME=tiny\n");
        foreach (var file in new[] { "passwd", "group", "hosts", "hostname" }) File.WriteAllText(Path.Combine(_root, "etc", file), "");
    }

    public async Task DisposeAsync()
    {
        await _fixture.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task A_sandbox_of_a_template_with_its_own_system_root_sees_that_system_and_not_the_hosts()
    {
        var spec = SandboxFixture.Spec() with { Template = new SandboxTemplate("tiny", new Dictionary<string, string> { ["FLAVOUR"] = "tiny" }, _root) };
        var client = await _fixture.StartAsync(spec);
        var run = await client.RunAsync("cat /etc/os-release; ls /usr/bin; echo $FLAVOUR; id -u; ls /usr/bin/python3 || echo no-python");
        Assert.Equal(0, run.ExitCode);
        Assert.Equal("NAME=tiny\nbusybox\ncat\nid\nls\nsh\ntiny\n1000\nno-python\n", run.Stdout);
        // The generated user database is laid over the template's own files.
        Assert.Contains("user:x:1000", (await client.RunAsync("cat /etc/passwd")).Stdout);
        // The root is read-only inside, and the workspace works as usual.
        Assert.NotEqual(0, (await client.RunAsync("echo x > /usr/bin/evil")).ExitCode);
        Assert.Equal("kept\n", (await client.RunAsync("echo kept > f && cat f")).Stdout);
    }
}
