using System.Net;
using System.Net.WebSockets;
using System.Text;
using Miosa.Actors.Organizations;
using Miosa.Actors.Previews;
using Miosa.Actors.Terminals;
using Miosa.HostAgent.Tests.Ingress;

namespace Miosa.Api.Tests;

/// <summary>
/// Browser terminals through a real node: a token from the API, then a real WebSocket over
/// loopback with that token alone (no Authorization header, as a browser opens it), through the
/// API to the host's ingress and the sandbox's agent.
/// </summary>
[Collection(SharedNodeCollection.Name)]
public class TerminalApiTests(SharedNode shared)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private readonly MiosaNode _node = shared.Node;

    private static async Task<string> TokenAsync(HttpClient api, string sandboxId, object? body = null) =>
        (await api.PostJsonAsync($"/v1/sandboxes/{sandboxId}/terminal-tokens", body ?? new { }, HttpStatusCode.Created)).GetProperty("token").GetString()!;

    private Uri TerminalUrl(string sandboxId, string? token, string scheme = "ws") =>
        new($"{scheme}://127.0.0.1:{_node.ApiPort}/v1/sandboxes/{sandboxId}/terminal{(token is null ? "" : "?token=" + token)}");

    [Fact]
    public async Task A_browser_opens_a_terminal_with_the_token_alone_runs_commands_resizes_and_sees_the_exit()
    {
        using var cts = new CancellationTokenSource(Patience);
        using var api = _node.Client();
        var id = await api.CreateSandboxAsync();
        var before = DateTimeOffset.UtcNow;
        var minted = await api.PostJsonAsync($"/v1/sandboxes/{id}/terminal-tokens", new { cols = 100, rows = 30 }, HttpStatusCode.Created);
        var token = minted.GetProperty("token").GetString()!;
        Assert.StartsWith("mt_", token);
        Assert.Equal($"ws://127.0.0.1:{_node.ApiPort}/v1/sandboxes/{id}/terminal?token={token}", minted.GetProperty("url").GetString());
        var expiresAt = minted.GetProperty("expires_at").GetDateTimeOffset();
        Assert.InRange(expiresAt, before.AddSeconds(299), DateTimeOffset.UtcNow.AddSeconds(300));
        Assert.Equal(expiresAt, new TerminalTokenKeys(ClusterSecret()).Verify(token)!.ExpiresAt);
        Assert.Equal(id, minted.GetProperty("sandbox_id").GetString());

        await using var terminal = await TerminalSocket.ConnectAsync(new Uri(minted.GetProperty("url").GetString()!), cts.Token);
        // Type once the shell prompts: input that arrives while bash starts up can be lost on a busy machine.
        await terminal.WaitForAsync("$ ", cts.Token);
        await terminal.TypeAsync("stty size; echo \"$(id -u):$PWD:$TERM:$((6*7))\"\n", cts.Token);
        await terminal.WaitForAsync("30 100\r\n1000:/workspace:xterm-256color:42\r\n", cts.Token);
        await terminal.ResizeAsync(132, 50, cts.Token);
        await terminal.TypeAsync("stty size\n", cts.Token);
        await terminal.WaitForAsync("50 132\r\n", cts.Token);
        // What the terminal wrote is in the sandbox, as exec sees it.
        // The marker is split in the command line, so the terminal's echo of the line does not match it.
        await terminal.TypeAsync("echo typed > from-terminal.txt; echo writ''ten\n", cts.Token);
        await terminal.WaitForAsync("written\r\n", cts.Token);
        Assert.Equal("typed\n", await api.GetStringAsync($"/v1/sandboxes/{id}/files?path=from-terminal.txt"));
        await terminal.TypeAsync("exit 3\n", cts.Token);

        Assert.Equal(3, await terminal.WaitForCloseAsync(cts.Token));
        Assert.Equal(WebSocketCloseStatus.NormalClosure, terminal.Socket.CloseStatus);
    }

    [Fact]
    public async Task Closing_the_browsers_socket_ends_the_shell_and_its_jobs()
    {
        using var cts = new CancellationTokenSource(Patience);
        using var api = _node.Client();
        var id = await api.CreateSandboxAsync();
        var terminal = await TerminalSocket.ConnectAsync(TerminalUrl(id, await TokenAsync(api, id)), cts.Token);
        await terminal.TypeAsync("nohup sleep 4242 >/dev/null 2>&1 &\necho star''ted\n", cts.Token);
        await terminal.WaitForAsync("started\r\n", cts.Token);
        Assert.Equal(1, await CountAsync(api, id, "sleep 4242", 1));
        Assert.Equal(1, await CountAsync(api, id, "/bin/bash -l", 1));

        await terminal.DisposeAsync();

        Assert.Equal(0, await CountAsync(api, id, "sleep 4242", 0));
        Assert.Equal(0, await CountAsync(api, id, "/bin/bash -l", 0));
    }

    [Fact]
    public async Task Tokens_that_do_not_open_this_terminal_are_refused_before_the_upgrade()
    {
        using var api = _node.Client();
        using var anonymous = new HttpClient { BaseAddress = _node.Api };
        var id = await api.CreateSandboxAsync();
        var other = await api.CreateSandboxAsync();
        var good = await TokenAsync(api, id);

        // Without a token, and the organization's key does not stand in for one.
        Assert.Equal(HttpStatusCode.Unauthorized, await TerminalSocket.UpgradeStatusAsync(TerminalUrl(id, null)));
        Assert.Equal(HttpStatusCode.Unauthorized, await TerminalSocket.UpgradeStatusAsync(TerminalUrl(id, null),
            new Dictionary<string, string> { ["Authorization"] = "Bearer " + _node.DefaultKey }));
        await (await anonymous.GetAsync($"/v1/sandboxes/{id}/terminal")).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        await (await api.GetAsync($"/v1/sandboxes/{id}/terminal")).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");

        // Forged: tampered, signed with another secret, a preview token, the other sandbox's token.
        var tampered = good[..^2] + (good[^2] == 'A' ? "BB" : "AA");
        var foreign = new TerminalTokenKeys("not-the-cluster-secret").Sign(new TerminalGrant(Organization(), id, 80, 24, DateTimeOffset.UtcNow.AddMinutes(5)));
        var preview = (await api.PostJsonAsync("/v1/preview-tokens", new { sandbox_id = id, ttl_seconds = 300 }, HttpStatusCode.Created)).GetProperty("token").GetString()!;
        Assert.StartsWith(PreviewTokenKeys.Prefix, preview);
        var otherSandbox = await TokenAsync(api, other);
        foreach (var bad in new[] { tampered, foreign, preview, otherSandbox, "mt_", "mt_x.y" })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, await TerminalSocket.UpgradeStatusAsync(TerminalUrl(id, bad)));
            await (await anonymous.GetAsync($"/v1/sandboxes/{id}/terminal?token={Uri.EscapeDataString(bad)}")).AssertProblemAsync(HttpStatusCode.Unauthorized, "invalid_token");
        }

        // Expired (a one-second token, then two seconds later).
        var shortLived = await TokenAsync(api, id, new { ttl_seconds = 1 });
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal(HttpStatusCode.Unauthorized, await TerminalSocket.UpgradeStatusAsync(TerminalUrl(id, shortLived)));
        await (await anonymous.GetAsync($"/v1/sandboxes/{id}/terminal?token={shortLived}")).AssertProblemAsync(HttpStatusCode.Unauthorized, "token_expired");

        // Another organization can neither mint a token for this sandbox nor use its own on it.
        using var intruder = _node.Client(await _node.CreateOrganizationAsync("term-" + Guid.NewGuid().ToString("N")[..8]));
        var response = await intruder.PostAsync($"/v1/sandboxes/{id}/terminal-tokens", MiosaNode.Json(new { }));
        await response.AssertProblemAsync(HttpStatusCode.NotFound, "sandbox_not_found");
        var theirs = await intruder.CreateSandboxAsync();
        var theirToken = await TokenAsync(intruder, theirs);
        Assert.Equal(HttpStatusCode.Unauthorized, await TerminalSocket.UpgradeStatusAsync(TerminalUrl(id, theirToken)));
        // A token for this sandbox naming another organization (only a forger could make one) finds no such sandbox.
        var wrongOrganization = new TerminalTokenKeys(ClusterSecret()).Sign(new TerminalGrant("org_" + new string('z', 20), id, 80, 24, DateTimeOffset.UtcNow.AddMinutes(5)));
        await (await anonymous.GetAsync($"/v1/sandboxes/{id}/terminal?token={wrongOrganization}")).AssertProblemAsync(HttpStatusCode.NotFound, "sandbox_not_found");

        // The good token still opens it; a plain GET with it is told to upgrade.
        Assert.Equal(HttpStatusCode.SwitchingProtocols, await TerminalSocket.UpgradeStatusAsync(TerminalUrl(id, good)));
        await (await anonymous.GetAsync($"/v1/sandboxes/{id}/terminal?token={good}")).AssertProblemAsync(HttpStatusCode.BadRequest, "websocket_required");
        await intruder.DeleteAsync($"/v1/sandboxes/{theirs}");
    }

    [Fact]
    public async Task Bad_requests_name_the_field_and_sandboxes_that_do_not_run_answer_409()
    {
        using var api = _node.Client();
        var id = await api.CreateSandboxAsync();
        var path = $"/v1/sandboxes/{id}/terminal-tokens";
        foreach (var (body, field) in new (object, string)[]
                 {
                     (new { ttl_seconds = 0 }, "ttl_seconds"), (new { ttl_seconds = 3601 }, "ttl_seconds"), (new { ttl_seconds = "60" }, "ttl_seconds"),
                     (new { cols = 0 }, "cols"), (new { cols = 1001 }, "cols"), (new { rows = 2.5 }, "rows"), (new { rows = -1 }, "rows"),
                 })
        {
            await (await api.PostAsync(path, MiosaNode.Json(body))).AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_request", field);
        }
        await (await api.PostAsync(path, new StringContent("{not json", Encoding.UTF8, "application/json"))).AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_request", "body");

        // No body at all: every field has a default.
        var defaults = await (await api.PostAsync(path, null)).ReadJsonAsync();
        Assert.Equal(80, defaults.GetProperty("cols").GetInt32());
        Assert.Equal(24, defaults.GetProperty("rows").GetInt32());
        Assert.InRange(defaults.GetProperty("expires_at").GetDateTimeOffset(), DateTimeOffset.UtcNow.AddSeconds(290), DateTimeOffset.UtcNow.AddSeconds(301));
        var maximal = await api.PostJsonAsync(path, new { ttl_seconds = 3600, cols = 1000, rows = 1000 }, HttpStatusCode.Created);
        Assert.Equal(1000, maximal.GetProperty("cols").GetInt32());

        await (await api.PostAsync("/v1/sandboxes/sbx_doesnotexist000000/terminal-tokens", MiosaNode.Json(new { }))).AssertProblemAsync(HttpStatusCode.NotFound, "sandbox_not_found");
        await (await api.PostAsync("/v1/sandboxes/not-an-id/terminal-tokens", MiosaNode.Json(new { }))).AssertProblemAsync(HttpStatusCode.NotFound, "sandbox_not_found");

        // A token minted while it ran does not open a destroyed sandbox.
        var token = await TokenAsync(api, id);
        Assert.Equal(HttpStatusCode.NoContent, (await api.DeleteAsync($"/v1/sandboxes/{id}")).StatusCode);
        await (await api.PostAsync(path, MiosaNode.Json(new { }))).AssertProblemAsync(HttpStatusCode.Conflict, "sandbox_not_running");
        using var anonymous = new HttpClient { BaseAddress = _node.Api };
        await (await anonymous.GetAsync($"/v1/sandboxes/{id}/terminal?token={token}")).AssertProblemAsync(HttpStatusCode.Conflict, "sandbox_not_running");
        Assert.Equal(HttpStatusCode.Conflict, await TerminalSocket.UpgradeStatusAsync(TerminalUrl(id, token)));
    }

    /// <summary>Polls the sandbox's processes until <paramref name="expected"/> run <paramref name="commandLine"/>; returns the last count.</summary>
    private static async Task<int> CountAsync(HttpClient api, string id, string commandLine, int expected)
    {
        var until = DateTime.UtcNow + Patience;
        var count = -1;
        while (DateTime.UtcNow < until)
        {
            var run = await api.ExecAsync(id, new { command = "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f 2>/dev/null; echo; done" });
            var lines = run.GetProperty("stdout").GetString()!.Split('\n').Select(l => l.TrimEnd());
            count = lines.Count(l => l == commandLine);
            if (count == expected) return count;
            await Task.Delay(100);
        }

        return count;
    }

    private string Organization() => ApiKeySecret.OrganizationOf(_node.DefaultKey)!;

    private string ClusterSecret() => File.ReadAllText(Path.Combine(_node.DataDir, "cluster.secret")).Trim();
}
