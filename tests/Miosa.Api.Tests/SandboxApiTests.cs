using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Miosa.Api.Tests;

[Collection(SharedNodeCollection.Name)]
public class SandboxApiTests(SharedNode shared)
{
    private readonly MiosaNode _node = shared.Node;

    [Fact]
    public async Task Health_and_readiness_need_no_key()
    {
        using var anonymous = new HttpClient { BaseAddress = _node.Api };
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/readyz")).StatusCode);
    }

    [Fact]
    public async Task Requests_without_a_valid_key_are_401()
    {
        using var anonymous = new HttpClient { BaseAddress = _node.Api };
        await (await anonymous.GetAsync("/v1/sandboxes")).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        var forged = "msk_" + _node.DefaultKey[4..20] + new string('a', 37);
        using var wrong = _node.Client(forged);
        await (await wrong.GetAsync("/v1/sandboxes")).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
    }

    [Fact]
    public async Task A_sandbox_runs_commands_and_keeps_its_files()
    {
        using var client = _node.Client();
        var created = await client.PostJsonAsync("/v1/sandboxes", new { env = new { GREETING = "hi" }, metadata = new { task = "t1" }, external_user_id = "u-42" }, HttpStatusCode.Created);
        Assert.Equal("running", created.GetProperty("state").GetString());
        Assert.Equal("miosa-sandbox", created.GetProperty("template").GetString());
        Assert.Equal("u-42", created.GetProperty("external_user_id").GetString());
        var id = created.GetProperty("id").GetString()!;
        Assert.Matches("^sbx_[a-z0-9]+$", id);

        var echo = await client.ExecAsync(id, new { command = "echo $GREETING from $(pwd); echo oops >&2; exit 3" });
        Assert.Equal("hi from /workspace\n", echo.GetProperty("stdout").GetString());
        Assert.Equal("oops\n", echo.GetProperty("stderr").GetString());
        Assert.Equal(3, echo.GetProperty("exit_code").GetInt32());
        Assert.False(echo.GetProperty("timed_out").GetBoolean());

        var argv = await client.ExecAsync(id, new { command = new[] { "python3", "-c", "import sys,os; print(sys.stdin.read().upper(), os.environ['X'], os.getcwd())" }, stdin = "piped", env = new { X = "y" }, cwd = "/tmp" });
        Assert.Equal("PIPED y /tmp\n", argv.GetProperty("stdout").GetString());

        var tools = await client.ExecAsync(id, new { command = "git --version && node -e 'console.log(1+1)' && npm --version >/dev/null && curl --version >/dev/null && whoami" });
        Assert.Equal(0, tools.GetProperty("exit_code").GetInt32());
        Assert.Contains("2\n", tools.GetProperty("stdout").GetString());

        Assert.Equal(HttpStatusCode.NoContent, (await client.PutAsync($"/v1/sandboxes/{id}/files?path=src/app/main.py", new StringContent("print('hello')"))).StatusCode);
        var run = await client.ExecAsync(id, new { command = "python3 src/app/main.py" });
        Assert.Equal("hello\n", run.GetProperty("stdout").GetString());
        Assert.Equal("print('hello')", await client.GetStringAsync($"/v1/sandboxes/{id}/files?path=/workspace/src/app/main.py"));

        var list = JsonDocument.Parse(await client.GetStringAsync($"/v1/sandboxes/{id}/files/list?path=src/app")).RootElement;
        var entry = Assert.Single(list.GetProperty("entries").EnumerateArray());
        Assert.Equal("main.py", entry.GetProperty("name").GetString());
        Assert.Equal("file", entry.GetProperty("type").GetString());
        Assert.Equal(14, entry.GetProperty("size").GetInt64());

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/sandboxes/{id}/files?path=src/app/main.py")).StatusCode);
        await (await client.GetAsync($"/v1/sandboxes/{id}/files?path=src/app/main.py")).AssertProblemAsync(HttpStatusCode.NotFound, "file_not_found");

        var got = await client.GetStringAsync($"/v1/sandboxes/{id}");
        Assert.Contains("\"task\":\"t1\"", got);

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/sandboxes/{id}")).StatusCode);
        var gone = JsonDocument.Parse(await client.GetStringAsync($"/v1/sandboxes/{id}")).RootElement;
        Assert.Equal("destroyed", gone.GetProperty("state").GetString());
        await (await client.PostAsync($"/v1/sandboxes/{id}/exec", MiosaNode.Json(new { command = "true" })))
            .AssertProblemAsync(HttpStatusCode.Conflict, "sandbox_not_running");
    }

    [Fact]
    public async Task Exec_times_out_and_kills_the_whole_process_group()
    {
        using var client = _node.Client();
        var id = await client.CreateSandboxAsync();
        var slow = await client.ExecAsync(id, new { command = "sleep 100 & sleep 100; echo never", timeout_seconds = 1 });
        Assert.True(slow.GetProperty("timed_out").GetBoolean());
        Assert.DoesNotContain("never", slow.GetProperty("stdout").GetString());
        Assert.True(slow.GetProperty("duration_ms").GetInt64() < 10_000);
        var ps = await client.ExecAsync(id, new { command = "ps -eo comm | grep -c '^sleep' || true" });
        Assert.Equal("0", ps.GetProperty("stdout").GetString()!.Trim());
    }

    [Fact]
    public async Task Ndjson_streams_output_as_the_process_writes_it()
    {
        using var client = _node.Client();
        var id = await client.CreateSandboxAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/sandboxes/{id}/exec")
        {
            Content = MiosaNode.Json(new { command = "echo first; sleep 2; echo second >&2; head -c 12000000 /dev/zero | tr '\\0' x" }),
        };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/x-ndjson"));
        var started = DateTime.UtcNow;
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("application/x-ndjson", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var first = JsonDocument.Parse((await reader.ReadLineAsync())!).RootElement;
        Assert.Equal("stdout", first.GetProperty("type").GetString());
        Assert.Equal("first\n", first.GetProperty("data").GetString());
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(1.8), "the first line must arrive before the command ends");

        long xs = 0;
        string? stderr = null;
        JsonElement exit = default;
        while (await reader.ReadLineAsync() is { } line)
        {
            var frame = JsonDocument.Parse(line).RootElement;
            switch (frame.GetProperty("type").GetString())
            {
                case "stdout": xs += frame.GetProperty("data").GetString()!.Count(c => c == 'x'); break;
                case "stderr": stderr += frame.GetProperty("data").GetString(); break;
                case "exit": exit = frame.Clone(); break;
            }
        }
        Assert.Equal(12_000_000, xs);
        Assert.Equal("second\n", stderr);
        Assert.Equal(0, exit.GetProperty("exit_code").GetInt32());
    }

    [Fact]
    public async Task Buffered_exec_returns_large_output_whole()
    {
        using var client = _node.Client();
        var id = await client.CreateSandboxAsync();
        var big = await client.ExecAsync(id, new { command = "head -c 11000000 /dev/zero | tr '\\0' 'é'" });
        // tr works on bytes: 'é' is two bytes, so half as many characters, each whole.
        Assert.Equal(0, big.GetProperty("exit_code").GetInt32());
        Assert.True(big.GetProperty("stdout").GetString()!.Length >= 5_000_000);
    }

    [Fact]
    public async Task Background_processes_are_listed_and_killed()
    {
        using var client = _node.Client();
        var id = await client.CreateSandboxAsync();
        var started = await client.PostJsonAsync($"/v1/sandboxes/{id}/exec", new { command = "sleep 300", background = true }, HttpStatusCode.Accepted);
        var pid = started.GetProperty("process_id").GetInt32();
        var list = JsonDocument.Parse(await client.GetStringAsync($"/v1/sandboxes/{id}/processes")).RootElement.GetProperty("data");
        Assert.Contains(list.EnumerateArray(), p => p.GetProperty("process_id").GetInt32() == pid && p.GetProperty("running").GetBoolean());
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/sandboxes/{id}/processes/{pid}")).StatusCode);
        var after = await client.ExecAsync(id, new { command = "ps -eo comm | grep -c '^sleep' || true" });
        Assert.Equal("0", after.GetProperty("stdout").GetString()!.Trim());
    }

    [Fact]
    public async Task Files_stream_in_and_out_unchanged()
    {
        using var client = _node.Client();
        var id = await client.CreateSandboxAsync();
        var data = RandomNumberGenerator.GetBytes(48 * 1024 * 1024);
        Assert.Equal(HttpStatusCode.NoContent, (await client.PutAsync($"/v1/sandboxes/{id}/files?path=blob.bin", new ByteArrayContent(data))).StatusCode);
        var back = await client.GetByteArrayAsync($"/v1/sandboxes/{id}/files?path=blob.bin");
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(back));
        var inside = await client.ExecAsync(id, new { command = "sha256sum blob.bin | cut -d' ' -f1" });
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(data)), inside.GetProperty("stdout").GetString()!.Trim());
    }

    [Fact]
    public async Task Lists_are_paged_filtered_and_scoped_to_the_organization()
    {
        var otherKey = await _node.CreateOrganizationAsync("list-org-" + Guid.NewGuid().ToString("N")[..8]);
        using var client = _node.Client(otherKey);
        var alice = new List<string>();
        for (var i = 0; i < 3; i++)
            alice.Add(await client.CreateSandboxAsync(new { external_user_id = "alice", project_id = "prj_a", metadata = new { tier = i == 0 ? "gold" : "free" } }));
        var bob = await client.CreateSandboxAsync(new { external_user_id = "bob", metadata = new { tier = "gold" } });

        // Read-your-writes: the list right after the creates already holds them, in creation order.
        var (all, _) = await Page(client, "limit=200");
        Assert.Equal([.. alice, bob], all);

        var seen = new List<string>();
        string? cursor = null;
        do
        {
            var (data, next) = await Page(client, "limit=2&external_user_id=alice" + (cursor is null ? "" : $"&cursor={cursor}"));
            Assert.True(data.Count <= 2);
            seen.AddRange(data);
            cursor = next;
        } while (cursor is not null);
        Assert.Equal(alice, seen);

        Assert.Equal([alice[0], bob], (await Page(client, "metadata.tier=gold")).Data);
        Assert.Equal([alice[0]], (await Page(client, "metadata.tier=gold&project_id=prj_a")).Data);
        Assert.Empty((await Page(client, "metadata.tier=gold&external_user_id=carol")).Data);

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/sandboxes/{bob}")).StatusCode);
        Assert.Equal([bob], (await Page(client, "state=destroyed")).Data);
        Assert.Equal(alice, (await Page(client, "state=running")).Data);

        using var defaultOrg = _node.Client();
        var (theirs, _) = await Page(defaultOrg, "limit=200&external_user_id=alice");
        Assert.Empty(theirs);
        await (await defaultOrg.GetAsync("/v1/sandboxes?limit=0")).AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_request", "limit");
        await (await defaultOrg.GetAsync("/v1/sandboxes?cursor=zzz")).AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_request", "cursor");
        await (await defaultOrg.GetAsync("/v1/sandboxes?state=sleeping")).AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_request", "state");
    }

    [Fact]
    public async Task Another_organizations_sandbox_is_404_everywhere()
    {
        using var owner = _node.Client();
        var id = await owner.CreateSandboxAsync();
        using var intruder = _node.Client(await _node.CreateOrganizationAsync("intruder-" + Guid.NewGuid().ToString("N")[..8]));
        await (await intruder.GetAsync($"/v1/sandboxes/{id}")).AssertProblemAsync(HttpStatusCode.NotFound, "sandbox_not_found");
        await (await intruder.PostAsync($"/v1/sandboxes/{id}/exec", MiosaNode.Json(new { command = "true" }))).AssertProblemAsync(HttpStatusCode.NotFound, "sandbox_not_found");
        await (await intruder.GetAsync($"/v1/sandboxes/{id}/files?path=x")).AssertProblemAsync(HttpStatusCode.NotFound, "sandbox_not_found");
        await (await intruder.DeleteAsync($"/v1/sandboxes/{id}")).AssertProblemAsync(HttpStatusCode.NotFound, "sandbox_not_found");
        var still = JsonDocument.Parse(await owner.GetStringAsync($"/v1/sandboxes/{id}")).RootElement;
        Assert.Equal("running", still.GetProperty("state").GetString());
    }

    [Fact]
    public async Task Api_keys_can_be_issued_and_revoked()
    {
        using var client = _node.Client(await _node.CreateOrganizationAsync("keys-" + Guid.NewGuid().ToString("N")[..8]));
        var issued = await client.PostJsonAsync("/v1/api-keys", new { name = "ci" }, HttpStatusCode.Created);
        var key = issued.GetProperty("key").GetString()!;
        Assert.StartsWith("msk_", key);
        using var second = _node.Client(key);
        Assert.Equal(HttpStatusCode.OK, (await second.GetAsync("/v1/api-keys")).StatusCode);
        var listed = await client.GetStringAsync("/v1/api-keys");
        Assert.DoesNotContain(key, listed);
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/api-keys/{issued.GetProperty("id").GetString()}")).StatusCode);
        await (await second.GetAsync("/v1/api-keys")).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
    }

    [Fact]
    public async Task Operator_api_needs_the_admin_token_and_unique_slugs()
    {
        using var anonymous = new HttpClient { BaseAddress = _node.Api };
        await (await anonymous.PostAsync("/admin/v1/organizations", MiosaNode.Json(new { slug = "x" }))).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        using var admin = new HttpClient { BaseAddress = _node.Api };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", MiosaNode.AdminToken);
        await (await admin.PostAsync("/admin/v1/organizations", MiosaNode.Json(new { slug = "default" }))).AssertProblemAsync(HttpStatusCode.Conflict, "slug_taken");
        await (await admin.PostAsync("/admin/v1/organizations", MiosaNode.Json(new { slug = "Not A Slug" }))).AssertProblemAsync((HttpStatusCode)422, "invalid_slug", "slug");
    }

    [Theory]
    [InlineData("{\"template\": \"windows-11\"}", 422, "unknown_template", "template")]
    [InlineData("{\"timeout_seconds\": -5}", 400, "invalid_request", "timeout_seconds")]
    [InlineData("{\"resources\": {\"memory_mb\": 1}}", 400, "invalid_request", "resources.memory_mb")]
    [InlineData("{\"env\": {\"A\": 1}}", 400, "invalid_request", "env.A")]
    [InlineData("{\"metadata\": \"x\"}", 400, "invalid_request", "metadata")]
    [InlineData("{\"allow_internet\": \"yes\"}", 400, "invalid_request", "allow_internet")]
    [InlineData("{not json", 400, "invalid_request", "body")]
    [InlineData("[]", 400, "invalid_request", "body")]
    public async Task Bad_sandbox_requests_name_the_field(string body, int status, string code, string field)
    {
        using var client = _node.Client();
        var before = await SandboxCount(client);
        var response = await client.PostAsync("/v1/sandboxes", new StringContent(body, Encoding.UTF8, "application/json"));
        await response.AssertProblemAsync((HttpStatusCode)status, code, field);
        Assert.Equal(before, await SandboxCount(client));
    }

    [Fact]
    public async Task Bad_exec_requests_name_the_field()
    {
        using var client = _node.Client();
        var id = await client.CreateSandboxAsync();
        foreach (var (body, field) in new[]
                 {
                     ("{}", "command"), ("{\"command\": []}", "command"), ("{\"command\": \"true\", \"timeout_seconds\": -1}", "timeout_seconds"),
                     ("{\"command\": \"true\", \"env\": {\"1A\": \"x\"}}", "env.1A"), ("nope", "body"),
                 })
        {
            var response = await client.PostAsync($"/v1/sandboxes/{id}/exec", new StringContent(body, Encoding.UTF8, "application/json"));
            await response.AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_request", field);
        }
        var huge = new string('x', 17 * 1024 * 1024);
        var tooBig = await client.PostAsync($"/v1/sandboxes/{id}/exec", MiosaNode.Json(new { command = "true", stdin = huge }));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooBig.StatusCode);
        var hugeCreate = await client.PostAsync("/v1/sandboxes", MiosaNode.Json(new { metadata = new { a = huge } }));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, hugeCreate.StatusCode);
    }

    private static async Task<int> SandboxCount(HttpClient client) =>
        JsonDocument.Parse(await client.GetStringAsync("/v1/sandboxes?limit=200")).RootElement.GetProperty("data").GetArrayLength();

    private static async Task<(List<string> Data, string? Next)> Page(HttpClient client, string query)
    {
        var page = JsonDocument.Parse(await client.GetStringAsync($"/v1/sandboxes?{query}")).RootElement;
        return (page.GetProperty("data").EnumerateArray().Select(s => s.GetProperty("id").GetString()!).ToList(),
            page.GetProperty("next_cursor").ValueKind == JsonValueKind.Null ? null : page.GetProperty("next_cursor").GetString());
    }

    internal static async Task WaitUntil(Func<Task<bool>> condition)
    {
        for (var i = 0; i < 100 && !await condition(); i++) await Task.Delay(50);
        Assert.True(await condition(), "condition did not hold within 5 s");
    }
}
