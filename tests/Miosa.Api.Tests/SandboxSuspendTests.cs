using System.Net;
using System.Text.Json;

namespace Miosa.Api.Tests;

/// <summary>Suspend and resume through a real node: frozen processes keep their state, traffic wakes them, idle ones suspend.</summary>
[Collection(SharedNodeCollection.Name)]
public class SandboxSuspendTests(SharedNode shared)
{
    private readonly MiosaNode _node = shared.Node;

    private static async Task<JsonElement> StateAsync(HttpClient api, string id) => await (await api.GetAsync($"/v1/sandboxes/{id}")).ReadJsonAsync();

    private static async Task<long> CounterAsync(HttpClient api, string id) =>
        long.Parse((await api.ExecAsync(id, new { command = "cat counter" })).GetProperty("stdout").GetString()!.Trim());

    [Fact]
    public async Task A_suspended_sandbox_keeps_its_processes_frozen_and_resumes_where_it_was()
    {
        using var api = _node.Client();
        var id = await api.CreateSandboxAsync();
        await api.PostJsonAsync($"/v1/sandboxes/{id}/exec",
            new { command = "i=0; while true; do i=$((i+1)); echo $i > counter.tmp; mv counter.tmp counter; sleep 0.05; done", background = true }, HttpStatusCode.Accepted);
        await Task.Delay(500);
        var before = await CounterAsync(api, id);
        var pid = (await (await api.GetAsync($"/v1/sandboxes/{id}/processes")).ReadJsonAsync()).GetProperty("data")[0].GetProperty("process_id").GetInt32();

        var suspended = await api.PostJsonAsync($"/v1/sandboxes/{id}/suspend", new { }, HttpStatusCode.OK);
        Assert.Equal("suspended", suspended.GetProperty("state").GetString());
        Assert.False(suspended.GetProperty("hibernated").GetBoolean());
        var frozenAt = await CounterAsync(api, id); // a file read wakes it (auto_resume)...
        Assert.Equal("running", (await StateAsync(api, id)).GetProperty("state").GetString());
        await api.PostJsonAsync($"/v1/sandboxes/{id}/suspend", new { }, HttpStatusCode.OK);
        var suspendedCounter = frozenAt;
        await Task.Delay(1000);
        var resumed = await api.PostJsonAsync($"/v1/sandboxes/{id}/resume", new { }, HttpStatusCode.OK);
        Assert.Equal("running", resumed.GetProperty("state").GetString());
        var after = await CounterAsync(api, id);
        // The loop went on from where it was (same process, count not reset) and did not count while frozen
        // (a second of running would have added about 20).
        Assert.True(after >= before, $"counter went back: {before} -> {after}");
        Assert.True(after - suspendedCounter < 15, $"counter advanced while suspended: {suspendedCounter} -> {after}");
        var processes = (await (await api.GetAsync($"/v1/sandboxes/{id}/processes")).ReadJsonAsync()).GetProperty("data");
        Assert.Contains(processes.EnumerateArray(), p => p.GetProperty("process_id").GetInt32() == pid && p.GetProperty("running").GetBoolean());
    }

    [Fact]
    public async Task An_idle_sandbox_suspends_after_its_timeout_and_the_next_exec_resumes_it()
    {
        using var api = _node.Client();
        var id = await api.CreateSandboxAsync(new { timeout_seconds = 1 });
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while ((await StateAsync(api, id)).GetProperty("state").GetString() != "suspended" && DateTime.UtcNow < deadline)
            await Task.Delay(200);
        Assert.Equal("suspended", (await StateAsync(api, id)).GetProperty("state").GetString());
        var exec = await api.ExecAsync(id, new { command = "echo awake" });
        Assert.Equal("awake\n", exec.GetProperty("stdout").GetString());
        Assert.Equal("running", (await StateAsync(api, id)).GetProperty("state").GetString());
    }

    [Fact]
    public async Task Without_auto_resume_traffic_is_refused_until_an_explicit_resume()
    {
        using var api = _node.Client();
        var id = await api.CreateSandboxAsync(new { auto_resume = false, timeout_seconds = 0 });
        await PreviewApp.StartAsync(api, id, 3000);
        var url = (await api.PostJsonAsync($"/v1/sandboxes/{id}/previews", new { port = 3000, visibility = "public" }, HttpStatusCode.Created))
            .GetProperty("url").GetString()!;
        using var visitor = new PreviewVisitor(_node.EdgePort);
        await visitor.WaitForAsync(url, HttpStatusCode.OK);

        await api.PostJsonAsync($"/v1/sandboxes/{id}/suspend", new { }, HttpStatusCode.OK);
        await (await api.PostAsync($"/v1/sandboxes/{id}/exec", MiosaNode.Json(new { command = "true" }))).AssertProblemAsync(HttpStatusCode.Conflict, "sandbox_suspended");
        var page = await visitor.WaitForAsync(url, HttpStatusCode.ServiceUnavailable);
        Assert.Contains("suspended", await page.Content.ReadAsStringAsync());
        Assert.Equal("suspended", (await StateAsync(api, id)).GetProperty("state").GetString());

        await api.PostJsonAsync($"/v1/sandboxes/{id}/resume", new { }, HttpStatusCode.OK);
        await visitor.WaitForAsync(url, HttpStatusCode.OK);
        Assert.Equal(0, (await api.ExecAsync(id, new { command = "true" })).GetProperty("exit_code").GetInt32());
    }

    [Fact]
    public async Task Preview_traffic_resumes_a_suspended_sandbox_that_auto_resumes()
    {
        using var api = _node.Client();
        var id = await api.CreateSandboxAsync(new { timeout_seconds = 0 });
        await PreviewApp.StartAsync(api, id, 3000);
        var url = (await api.PostJsonAsync($"/v1/sandboxes/{id}/previews", new { port = 3000, visibility = "public" }, HttpStatusCode.Created))
            .GetProperty("url").GetString()!;
        await api.PostJsonAsync($"/v1/sandboxes/{id}/suspend", new { }, HttpStatusCode.OK);
        using var visitor = new PreviewVisitor(_node.EdgePort);
        var page = await visitor.WaitForAsync(url, HttpStatusCode.OK);
        Assert.Contains("Hello from the sandbox", await page.Content.ReadAsStringAsync());
        Assert.Equal("running", (await StateAsync(api, id)).GetProperty("state").GetString());
    }

    [Fact]
    public async Task Suspend_and_resume_are_scoped_to_the_organization_and_refuse_ended_sandboxes()
    {
        using var api = _node.Client();
        var id = await api.CreateSandboxAsync();
        using var other = _node.Client(await _node.CreateOrganizationAsync($"susp-{Guid.NewGuid():N}"[..20]));
        await (await other.PostAsync($"/v1/sandboxes/{id}/suspend", MiosaNode.Json(new { }))).AssertProblemAsync(HttpStatusCode.NotFound, "sandbox_not_found");
        await (await other.PostAsync($"/v1/sandboxes/{id}/resume", MiosaNode.Json(new { }))).AssertProblemAsync(HttpStatusCode.NotFound, "sandbox_not_found");
        Assert.Equal("running", (await StateAsync(api, id)).GetProperty("state").GetString());
        Assert.Equal(HttpStatusCode.NoContent, (await api.DeleteAsync($"/v1/sandboxes/{id}")).StatusCode);
        await (await api.PostAsync($"/v1/sandboxes/{id}/suspend", MiosaNode.Json(new { }))).AssertProblemAsync(HttpStatusCode.Conflict, "sandbox_not_running");
    }
}

/// <summary>Hibernation: after a longer idle period the processes stop and memory is freed; the files stay.</summary>
public sealed class SandboxHibernationTests : IAsyncLifetime
{
    private readonly MiosaNode _node = new();

    public Task InitializeAsync()
    {
        _node.Environment["MIOSA_HIBERNATE_AFTER_SECONDS"] = "1";
        return _node.StartAsync();
    }

    public Task DisposeAsync() => _node.DisposeAsync().AsTask();

    [Fact]
    public async Task A_long_suspended_sandbox_hibernates_and_resumes_with_its_files_and_fresh_processes()
    {
        using var api = _node.Client();
        var id = await api.CreateSandboxAsync(new { timeout_seconds = 0 });
        Assert.Equal(HttpStatusCode.NoContent, (await api.PutAsync($"/v1/sandboxes/{id}/files?path=kept.txt", new StringContent("still here"))).StatusCode);
        await api.PostJsonAsync($"/v1/sandboxes/{id}/exec", new { command = "sleep 600", background = true }, HttpStatusCode.Accepted);
        await api.PostJsonAsync($"/v1/sandboxes/{id}/suspend", new { }, HttpStatusCode.OK);
        var deadline = DateTime.UtcNow.AddSeconds(15);
        JsonElement state;
        do
        {
            await Task.Delay(200);
            state = await (await api.GetAsync($"/v1/sandboxes/{id}")).ReadJsonAsync();
        }
        while (!state.GetProperty("hibernated").GetBoolean() && DateTime.UtcNow < deadline);
        Assert.True(state.GetProperty("hibernated").GetBoolean());
        Assert.Equal("suspended", state.GetProperty("state").GetString());

        Assert.Equal("still here", await api.GetStringAsync($"/v1/sandboxes/{id}/files?path=kept.txt"));
        Assert.Equal("running", (await (await api.GetAsync($"/v1/sandboxes/{id}")).ReadJsonAsync()).GetProperty("state").GetString());
        var processes = (await (await api.GetAsync($"/v1/sandboxes/{id}/processes")).ReadJsonAsync()).GetProperty("data");
        Assert.DoesNotContain(processes.EnumerateArray(), p => p.GetProperty("running").GetBoolean());
    }
}
