using System.Net;
using System.Text.Json;

namespace Miosa.Api.Tests;

[Collection(SharedNodeCollection.Name)]
public class ApiKeyTests(SharedNode shared)
{
    private readonly MiosaNode _node = shared.Node;

    private async Task<HttpClient> NewOrganizationAsync(string name) =>
        _node.Client(await _node.CreateOrganizationAsync($"{name}-{Guid.NewGuid().ToString("N")[..8]}"));

    [Fact]
    public async Task A_read_only_key_can_read_but_not_write()
    {
        using var admin = await NewOrganizationAsync("scopes");
        var sandbox = await admin.CreateSandboxAsync();
        var issued = await admin.PostJsonAsync("/v1/api-keys", new { name = "dashboard", scopes = new[] { "read" } }, HttpStatusCode.Created);
        Assert.Equal(["read"], issued.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()));
        using var reader = _node.Client(issued.GetProperty("key").GetString());

        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync($"/v1/sandboxes/{sandbox}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("/v1/sandboxes")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("/v1/api-keys")).StatusCode);
        await (await reader.PostAsync("/v1/sandboxes", MiosaNode.Json(new { }))).AssertProblemAsync(HttpStatusCode.Forbidden, "insufficient_scope");
        await (await reader.PostAsync($"/v1/sandboxes/{sandbox}/exec", MiosaNode.Json(new { command = "true" }))).AssertProblemAsync(HttpStatusCode.Forbidden, "insufficient_scope");
        // A read key cannot mint itself a full key, nor revoke anyone's.
        await (await reader.PostAsync("/v1/api-keys", MiosaNode.Json(new { name = "escalate" }))).AssertProblemAsync(HttpStatusCode.Forbidden, "insufficient_scope");
        await (await reader.DeleteAsync($"/v1/api-keys/{issued.GetProperty("id").GetString()}")).AssertProblemAsync(HttpStatusCode.Forbidden, "insufficient_scope");
        await (await reader.DeleteAsync($"/v1/sandboxes/{sandbox}")).AssertProblemAsync(HttpStatusCode.Forbidden, "insufficient_scope");
        Assert.Equal("running", JsonDocument.Parse(await admin.GetStringAsync($"/v1/sandboxes/{sandbox}")).RootElement.GetProperty("state").GetString());
    }

    [Theory]
    [InlineData("{\"scopes\": [\"admin\"]}")]
    [InlineData("{\"scopes\": []}")]
    [InlineData("{\"scopes\": \"read\"}")]
    [InlineData("{\"scopes\": [1]}")]
    public async Task Unknown_scopes_are_rejected_naming_scopes(string body)
    {
        using var client = await NewOrganizationAsync("bad-scopes");
        var response = await client.PostAsync("/v1/api-keys", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_request", "scopes");
        Assert.Single(await KeysAsync(client));
    }

    [Fact]
    public async Task A_revoked_key_is_refused_on_the_very_next_request()
    {
        using var client = await NewOrganizationAsync("revoke");
        var issued = await client.PostJsonAsync("/v1/api-keys", new { name = "ci" }, HttpStatusCode.Created);
        using var ci = _node.Client(issued.GetProperty("key").GetString());
        // Warm whatever could cache: several authenticated requests right before the revocation.
        for (var i = 0; i < 3; i++) Assert.Equal(HttpStatusCode.OK, (await ci.GetAsync("/v1/sandboxes")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/api-keys/{issued.GetProperty("id").GetString()}")).StatusCode);
        await (await ci.GetAsync("/v1/sandboxes")).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        await (await ci.PostAsync("/v1/api-keys", MiosaNode.Json(new { }))).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
    }

    [Fact]
    public async Task The_last_live_key_is_not_revoked_and_a_key_may_revoke_itself_otherwise()
    {
        using var first = await NewOrganizationAsync("last-key");
        var firstId = Assert.Single(await KeysAsync(first)).GetProperty("id").GetString();
        await (await first.DeleteAsync($"/v1/api-keys/{firstId}")).AssertProblemAsync(HttpStatusCode.Conflict, "last_api_key");

        var issued = await first.PostJsonAsync("/v1/api-keys", new { name = "successor" }, HttpStatusCode.Created);
        using var successor = _node.Client(issued.GetProperty("key").GetString());
        Assert.Equal(HttpStatusCode.NoContent, (await first.DeleteAsync($"/v1/api-keys/{firstId}")).StatusCode);
        await (await first.GetAsync("/v1/api-keys")).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        await (await successor.DeleteAsync($"/v1/api-keys/{issued.GetProperty("id").GetString()}")).AssertProblemAsync(HttpStatusCode.Conflict, "last_api_key");
        await (await successor.DeleteAsync("/v1/api-keys/key_doesnotexist0000")).AssertProblemAsync(HttpStatusCode.NotFound, "api_key_not_found");
        Assert.Equal(HttpStatusCode.OK, (await successor.GetAsync("/v1/api-keys")).StatusCode);
    }

    [Fact]
    public async Task The_list_shows_prefix_and_last_use_but_never_the_key()
    {
        using var client = await NewOrganizationAsync("list-keys");
        var issued = await client.PostJsonAsync("/v1/api-keys", new { name = "ci" }, HttpStatusCode.Created);
        var key = issued.GetProperty("key").GetString()!;
        var prefix = issued.GetProperty("prefix").GetString()!;
        Assert.StartsWith(prefix, key);
        Assert.True(prefix.Length < key.Length / 2, prefix);
        Assert.Equal(["full"], issued.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()));
        Assert.Equal(JsonValueKind.String, issued.GetProperty("created_at").ValueKind);

        var unused = (await KeysAsync(client)).Single(k => k.GetProperty("id").GetString() == issued.GetProperty("id").GetString());
        Assert.Equal(JsonValueKind.Null, unused.GetProperty("last_used_at").ValueKind);
        Assert.Equal(prefix, unused.GetProperty("prefix").GetString());
        Assert.Equal("ci", unused.GetProperty("name").GetString());

        using var ci = _node.Client(key);
        var before = DateTimeOffset.UtcNow.AddSeconds(-5);
        Assert.Equal(HttpStatusCode.OK, (await ci.GetAsync("/v1/sandboxes")).StatusCode);
        var listed = await client.GetStringAsync("/v1/api-keys");
        Assert.DoesNotContain(key, listed);
        Assert.DoesNotContain(key[prefix.Length..], listed);
        Assert.DoesNotContain("hash", listed);
        var page = JsonDocument.Parse(listed).RootElement;
        Assert.Equal(JsonValueKind.Null, page.GetProperty("next_cursor").ValueKind);
        var used = page.GetProperty("data").EnumerateArray().Single(k => k.GetProperty("id").GetString() == issued.GetProperty("id").GetString());
        Assert.True(used.GetProperty("last_used_at").GetDateTimeOffset() >= before);
        Assert.Equal(
            ["created_at", "id", "last_used_at", "name", "prefix", "scopes"],
            used.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
    }

    private static async Task<List<JsonElement>> KeysAsync(HttpClient client) =>
        JsonDocument.Parse(await client.GetStringAsync("/v1/api-keys")).RootElement.GetProperty("data").EnumerateArray().ToList();
}
