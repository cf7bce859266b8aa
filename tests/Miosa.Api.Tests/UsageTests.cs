using System.Net;
using System.Text.Json;

namespace Miosa.Api.Tests;

/// <summary>GET /v1/usage against a node of its own that meters every second.</summary>
public class UsageTests
{
    private const string Null = "<null>";
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(45);

    [Fact]
    public async Task Usage_follows_consumption_per_attribution_and_survives_a_restart()
    {
        await using var first = new MiosaNode();
        first.Environment["MIOSA_USAGE_INTERVAL_SECONDS"] = "1";
        await first.StartAsync();
        using var client = first.Client();
        var since = DateTimeOffset.UtcNow;
        // One sandbox per external project, so each sandbox's figures can be read on their own.
        var burner = await client.CreateSandboxAsync(new { external_user_id = "u-burn", external_project_id = "p-burner" });
        await client.CreateSandboxAsync(new { external_user_id = "u-idle", external_project_id = "p-idle" });
        await client.CreateSandboxAsync(new { external_user_id = "u-idle", external_project_id = "p-quiet" });
        string[] projects = ["p-burner", "p-idle", "p-quiet"];

        // Three seconds of CPU however busy the machine is: loop on process time, not wall time.
        var burn = await client.ExecAsync(burner, new { command = new[] { "python3", "-c", "import time\nwhile time.process_time() < 3: pass" } });
        Assert.Equal(0, burn.GetProperty("exit_code").GetInt32());
        var burned = DateTimeOffset.UtcNow;

        // A sandbox's windows are recorded in order: once one starting after the burn is in, all before it are.
        await EventuallyAsync(() => UsageAsync(client, "external_project_id", burned),
            u => projects.All(p => u.ContainsKey(p)), "windows after the burn for every sandbox");
        var byUser = await UsageAsync(client, "external_user_id", since);
        Assert.Equal(new[] { "u-burn", "u-idle" }, byUser.Keys.Order());
        Assert.InRange(byUser["u-burn"].GetProperty("cpu_seconds").GetDouble(), 2.5, 4);
        Assert.InRange(byUser["u-idle"].GetProperty("cpu_seconds").GetDouble(), 0, 0.3);
        Assert.True(byUser["u-idle"].GetProperty("memory_mb_seconds").GetDouble() > 0);
        Assert.True(byUser["u-burn"].GetProperty("memory_mb_seconds").GetDouble() > 0);
        Assert.True(byUser["u-idle"].GetProperty("storage_bytes").GetInt64() >= 0);
        Assert.Equal(0, byUser["u-burn"].GetProperty("egress_bytes").GetInt64());

        // Running time follows the wall clock: it grows, and never exceeds the time since creation.
        var before = Seconds(await UsageAsync(client, "external_project_id", since), "p-quiet");
        var later = await EventuallyAsync(() => UsageAsync(client, "external_project_id", since),
            u => Seconds(u, "p-quiet") >= before + 2, "sandbox_seconds growing");
        Assert.InRange(Seconds(later, "p-quiet"), before + 2, (DateTimeOffset.UtcNow - since).TotalSeconds + 0.5);

        var byType = Assert.Single(await UsageAsync(client, "resource_type", since));
        Assert.Equal("sandbox", byType.Key);
        // Nobody passed an external workspace id: everything groups under null.
        Assert.Equal(Null, Assert.Single(await UsageAsync(client, "external_workspace_id", since)).Key);

        using (var other = first.Client(await first.CreateOrganizationAsync("usage-other")))
        {
            Assert.Empty(await UsageAsync(other, "external_user_id", since));
            Assert.Empty(await UsageAsync(other, "resource_type", since));
        }

        await (await client.GetAsync("/v1/usage?group_by=colour")).AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_request", "group_by");
        await (await client.GetAsync("/v1/usage?group_by=external_user_id&from=yesterday")).AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_request", "from");
        await (await client.GetAsync("/v1/usage?to=2026-13-01")).AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_request", "to");

        // A closed window of the past: everything in it is projected once a later window is.
        var cutoff = DateTimeOffset.UtcNow;
        await EventuallyAsync(() => UsageAsync(client, "external_project_id", cutoff),
            u => projects.All(p => u.ContainsKey(p)), "windows after the cutoff for every sandbox");
        var past = await UsageAsync(client, "external_project_id", since, cutoff);
        await first.KillAsync();

        await using var second = new MiosaNode(first.DataDir);
        second.Environment["MIOSA_USAGE_INTERVAL_SECONDS"] = "1";
        await second.StartAsync();
        var restarted = DateTimeOffset.UtcNow;
        using var after = second.Client();
        // Windows of the restarted sandboxes come after every event of the first run in the journal.
        await EventuallyAsync(() => UsageAsync(after, "external_project_id", restarted),
            u => projects.All(p => u.ContainsKey(p)), "windows after the restart for every sandbox");
        var again = await UsageAsync(after, "external_project_id", since, cutoff);
        Assert.Equal(past.Keys.Order(), again.Keys.Order());
        foreach (var project in projects)
        {
            foreach (var figure in (string[])["sandbox_seconds", "cpu_seconds", "memory_mb_seconds"])
                Assert.Equal(past[project].GetProperty(figure).GetDouble(), again[project].GetProperty(figure).GetDouble(), 6);
            Assert.Equal(past[project].GetProperty("storage_bytes").GetInt64(), again[project].GetProperty("storage_bytes").GetInt64());
        }
    }

    [Fact]
    public async Task Preview_traffic_is_metered_as_egress_of_the_sandbox_that_served_it()
    {
        await using var node = new MiosaNode();
        node.Environment["MIOSA_USAGE_INTERVAL_SECONDS"] = "1";
        await node.StartAsync();
        using var client = node.Client();
        var since = DateTimeOffset.UtcNow;
        var server = await client.CreateSandboxAsync(new { external_user_id = "u-serves" });
        await client.CreateSandboxAsync(new { external_user_id = "u-quiet" });
        await PreviewApp.StartAsync(client, server, 3000);
        const int size = 1024 * 1024;
        Assert.Equal(HttpStatusCode.NoContent, (await client.PutAsync($"/v1/sandboxes/{server}/files?path=blob.bin", new ByteArrayContent(new byte[size]))).StatusCode);
        var url = (await client.PostJsonAsync($"/v1/sandboxes/{server}/previews", new { port = 3000, visibility = "public" }, HttpStatusCode.Created))
            .GetProperty("url").GetString()!;
        using var visitor = new PreviewVisitor(node.EdgePort);
        await visitor.WaitForAsync(url + "blob.bin", HttpStatusCode.OK);
        for (var i = 0; i < 2; i++) Assert.Equal(size, (await (await visitor.GetAsync(url + "blob.bin")).Content.ReadAsByteArrayAsync()).Length);

        // Three downloads (the wait's one included) of 1 MiB, plus headers; the other sandbox sent nothing.
        var usage = await EventuallyAsync(() => UsageAsync(client, "external_user_id", since),
            u => u.TryGetValue("u-serves", out var e) && e.GetProperty("egress_bytes").GetInt64() >= 3L * size, "egress of three downloads");
        Assert.InRange(usage["u-serves"].GetProperty("egress_bytes").GetInt64(), 3L * size, 3L * size + 64 * 1024);
        Assert.Equal(0, usage["u-quiet"].GetProperty("egress_bytes").GetInt64());
    }

    [Fact]
    public async Task A_static_deployment_meters_what_the_edge_served_as_its_egress()
    {
        await using var node = new MiosaNode();
        node.Environment["MIOSA_USAGE_INTERVAL_SECONDS"] = "1";
        await node.StartAsync();
        using var client = node.Client();
        // A fresh node: everything it metered is this test's. (Its first egress window may start before
        // the node said ready, so the range starts well before.)
        var since = DateTimeOffset.UtcNow.AddHours(-1);
        var sandbox = await client.CreateSandboxAsync();
        const int size = 256 * 1024;
        Assert.Equal(HttpStatusCode.NoContent, (await client.PutAsync($"/v1/sandboxes/{sandbox}/files?path=site/blob.bin", new ByteArrayContent(new byte[size]))).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await client.PutAsync($"/v1/sandboxes/{sandbox}/files?path=site/index.html", new StringContent("<h1>hi</h1>"))).StatusCode);
        var deployment = await client.PostJsonAsync("/v1/deployments", new { name = "Metered", slug = "metered", external_user_id = "u-site" }, HttpStatusCode.Created);
        var id = deployment.GetProperty("id").GetString()!;
        var queued = await client.PostJsonAsync($"/v1/deployments/{id}/publish", new { sandbox_id = sandbox, mode = "static", output_dir = "site" }, HttpStatusCode.Accepted);
        await EventuallyAsync(async () => (await (await client.GetAsync($"/v1/versions/{queued.GetProperty("version_id").GetString()}")).ReadJsonAsync()).GetProperty("state").GetString(),
            state => state is "ready" or "failed", "the version settles");
        using var visitor = new PreviewVisitor(node.EdgePort);
        var url = deployment.GetProperty("url").GetString()!;
        await visitor.WaitForAsync(url + "blob.bin", HttpStatusCode.OK);
        Assert.Equal(size, (await (await visitor.GetAsync(url + "blob.bin")).Content.ReadAsByteArrayAsync()).Length);
        // A revalidation that answers 304 sends no body and is not egress.
        var etag = (await visitor.GetAsync(url + "blob.bin")).Headers.ETag!;
        var revalidate = new HttpRequestMessage(HttpMethod.Get, url + "blob.bin");
        revalidate.Headers.IfNoneMatch.Add(etag);
        Assert.Equal(HttpStatusCode.NotModified, (await visitor.SendAsync(revalidate)).StatusCode);

        // Three full downloads (the wait's one included), by resource type and by the deployment's attribution.
        var usage = await EventuallyAsync(() => UsageAsync(client, "resource_type", since),
            u => u.TryGetValue("deployment", out var e) && e.GetProperty("egress_bytes").GetInt64() >= 3L * size, "the deployment's egress");
        Assert.Equal(3L * size, usage["deployment"].GetProperty("egress_bytes").GetInt64());
        Assert.Equal(0, usage["deployment"].GetProperty("cpu_seconds").GetDouble());
        Assert.Equal(3L * size, (await UsageAsync(client, "external_user_id", since))["u-site"].GetProperty("egress_bytes").GetInt64());
    }

    private static double Seconds(IReadOnlyDictionary<string, JsonElement> usage, string key) =>
        usage.TryGetValue(key, out var row) ? row.GetProperty("sandbox_seconds").GetDouble() : 0;

    private static async Task<IReadOnlyDictionary<string, JsonElement>> UsageAsync(HttpClient client, string groupBy, DateTimeOffset from, DateTimeOffset? to = null)
    {
        var query = $"/v1/usage?group_by={groupBy}&from={Iso(from)}" + (to is { } t ? $"&to={Iso(t)}" : "");
        var response = await client.GetAsync(query);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {query}: {response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.GetProperty("data").EnumerateArray()
            .ToDictionary(row => row.GetProperty("key").GetString() ?? Null, row => row.Clone());
    }

    private static string Iso(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ");

    /// <summary>Polls until <paramref name="done"/> holds, failing after a bounded wait (usage lags by a metering interval).</summary>
    private static async Task<T> EventuallyAsync<T>(Func<Task<T>> read, Func<T, bool> done, string what)
    {
        var deadline = DateTime.UtcNow + Within;
        while (true)
        {
            var value = await read();
            if (done(value)) return value;
            if (DateTime.UtcNow > deadline) Assert.Fail($"No {what} within {Within.TotalSeconds} s; last read: {System.Text.Json.JsonSerializer.Serialize(value)}");
            await Task.Delay(200);
        }
    }
}
