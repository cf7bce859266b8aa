using System.Net;
using System.Text.Json;

namespace Miosa.Api.Tests;

/// <summary>What a hostile command inside a sandbox tries, and what it gets.</summary>
[Collection(SharedNodeCollection.Name)]
public class SandboxIsolationTests(SharedNode shared)
{
    private readonly MiosaNode _node = shared.Node;

    [Fact]
    public async Task Host_files_processes_and_network_are_out_of_reach()
    {
        using var client = _node.Client();
        var id = await client.CreateSandboxAsync();

        var root = await client.ExecAsync(id, new { command = "ls /root; cat /etc/shadow; ls " + _node.DataDir });
        Assert.NotEqual(0, root.GetProperty("exit_code").GetInt32());
        Assert.DoesNotContain("default-org.key", root.GetProperty("stdout").GetString());

        var ps = await client.ExecAsync(id, new { command = "ps -e -o pid= | wc -l; ps -e -o comm=" });
        var psOut = ps.GetProperty("stdout").GetString()!;
        Assert.DoesNotContain("dotnet", psOut);
        Assert.True(int.Parse(psOut.Split('\n')[0].Trim()) <= 6, psOut);

        var user = await client.ExecAsync(id, new { command = "id -u; cat /proc/self/status | grep CapEff" });
        Assert.StartsWith("1000\n", user.GetProperty("stdout").GetString());
        Assert.Contains("0000000000000000", user.GetProperty("stdout").GetString());

        var api = await client.ExecAsync(id, new
        {
            command = new[] { "python3", "-c", $"import socket; s=socket.socket(); s.settimeout(2); s.connect(('127.0.0.1', {_node.ApiPort})); print('connected')" },
        });
        Assert.NotEqual(0, api.GetProperty("exit_code").GetInt32());
        Assert.DoesNotContain("connected", api.GetProperty("stdout").GetString());
        var curl = await client.ExecAsync(id, new { command = $"curl -sS -m 2 http://127.0.0.1:{_node.ApiPort}/healthz", timeout_seconds = 10 });
        Assert.NotEqual(0, curl.GetProperty("exit_code").GetInt32());

        var write = await client.ExecAsync(id, new { command = "touch /usr/bin/evil || touch /etc/evil || echo refused" });
        Assert.Contains("refused", write.GetProperty("stdout").GetString());
    }

    [Fact]
    public async Task Another_sandboxs_workspace_is_invisible()
    {
        using var client = _node.Client();
        var a = await client.CreateSandboxAsync();
        var b = await client.CreateSandboxAsync();
        await client.ExecAsync(a, new { command = "echo secret-of-a > /workspace/secret.txt" });
        var look = await client.ExecAsync(b, new { command = "cat /workspace/secret.txt; find / -name secret.txt -not -path '/proc/*' 2>/dev/null" });
        Assert.DoesNotContain("secret-of-a", look.GetProperty("stdout").GetString());
        Assert.DoesNotContain("secret.txt", look.GetProperty("stdout").GetString());
    }

    [Fact]
    public async Task Paths_that_leave_the_sandbox_are_rejected()
    {
        using var client = _node.Client();
        var id = await client.CreateSandboxAsync();
        await (await client.GetAsync($"/v1/sandboxes/{id}/files?path=../../etc/passwd")).AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_path");
        await (await client.PutAsync($"/v1/sandboxes/{id}/files?path=../escape.txt", new StringContent("x"))).AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_path");
        await client.ExecAsync(id, new { command = "ln -s /etc link-to-etc && ln -s / root-link" });
        await (await client.GetAsync($"/v1/sandboxes/{id}/files?path=link-to-etc/hostname")).AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_path");
        await (await client.PutAsync($"/v1/sandboxes/{id}/files?path=root-link/tmp/x", new StringContent("x"))).AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_path");
        await (await client.PutAsync($"/v1/sandboxes/{id}/files?path=/usr/bin/evil", new StringContent("x"))).AssertProblemAsync(HttpStatusCode.Forbidden, "read_only_path");
        await (await client.GetAsync($"/v1/sandboxes/{id}/files")).AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_request", "path");
        // An absolute path stays inside the sandbox's own filesystem: its private /tmp, not the host's.
        var marker = "miosa-private-" + Guid.NewGuid().ToString("N");
        await client.ExecAsync(id, new { command = $"echo inside > /tmp/{marker}" });
        Assert.Equal("inside\n", await client.GetStringAsync($"/v1/sandboxes/{id}/files?path=/tmp/{marker}"));
        Assert.False(File.Exists($"/tmp/{marker}"));
    }

    [Fact]
    public async Task A_fork_bomb_is_held_at_the_pids_limit_and_hurts_no_one_else()
    {
        using var client = _node.Client();
        var victim = await client.CreateSandboxAsync();
        var attacker = await client.CreateSandboxAsync();

        await client.PostJsonAsync($"/v1/sandboxes/{attacker}/exec", new { command = "bomb() { bomb | bomb & }; bomb", background = true }, HttpStatusCode.Accepted);
        await Task.Delay(3000);
        var processes = ProcessesOf(attacker);
        Assert.InRange(processes, 1, 256 + 4); // pids.max, plus the sandbox's own bwrap and agent

        var victimAfter = await client.ExecAsync(victim, new { command = "echo fine" });
        Assert.Equal("fine\n", victimAfter.GetProperty("stdout").GetString());
        using var anonymous = new HttpClient { BaseAddress = _node.Api };
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/healthz")).StatusCode);

        // Destroying the bombed sandbox ends every one of its processes.
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/sandboxes/{attacker}")).StatusCode);
        await SandboxApiTests.WaitUntil(() => Task.FromResult(ProcessesOf(attacker) == 0));
    }

    [Fact]
    public async Task A_memory_hog_is_oom_killed_and_reported_and_its_sandbox_lives_on()
    {
        using var client = _node.Client();
        var hogger = await client.CreateSandboxAsync(new { resources = new { memory_mb = 256 } });
        var hog = await client.ExecAsync(hogger, new { command = new[] { "python3", "-c", "x = bytearray(1024*1024*1024); print('allocated')" }, timeout_seconds = 30 });
        Assert.Equal(137, hog.GetProperty("exit_code").GetInt32());
        Assert.True(hog.GetProperty("oom_killed").GetBoolean());
        Assert.DoesNotContain("allocated", hog.GetProperty("stdout").GetString());
        var after = await client.ExecAsync(hogger, new { command = "echo still-here" });
        Assert.Equal("still-here\n", after.GetProperty("stdout").GetString());
    }

    /// <summary>Host processes whose cgroup names the sandbox: what the sandbox really runs.</summary>
    private static int ProcessesOf(string sandboxId) =>
        Directory.GetDirectories("/proc").Count(dir =>
        {
            try
            {
                return int.TryParse(Path.GetFileName(dir), out _) && File.ReadAllText(Path.Combine(dir, "cgroup")).Contains(sandboxId);
            }
            catch (IOException)
            {
                return false;
            }
        });
}
