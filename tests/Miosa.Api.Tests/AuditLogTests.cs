using System.Net;
using System.Text.Json;

namespace Miosa.Api.Tests;

[Collection(SharedNodeCollection.Name)]
public class AuditLogTests(SharedNode shared)
{
    private readonly MiosaNode _node = shared.Node;

    [Fact]
    public async Task Key_events_appear_newest_first_with_their_actor_and_page_without_gaps()
    {
        using var client = _node.Client(await _node.CreateOrganizationAsync("audit-" + Guid.NewGuid().ToString("N")[..8]));
        var firstKey = JsonDocument.Parse(await client.GetStringAsync("/v1/api-keys")).RootElement.GetProperty("data")[0].GetProperty("id").GetString()!;
        var issued = new List<string>();
        for (var i = 0; i < 3; i++)
            issued.Add((await client.PostJsonAsync("/v1/api-keys", new { name = $"k{i}" }, HttpStatusCode.Created)).GetProperty("id").GetString()!);
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/api-keys/{issued[1]}")).StatusCode);

        // Read-your-writes: the revocation just answered is already in the log, on top.
        var all = new List<JsonElement>();
        string? cursor = null;
        do
        {
            var page = JsonDocument.Parse(await client.GetStringAsync("/v1/audit-events?limit=2" + (cursor is null ? "" : $"&cursor={cursor}"))).RootElement;
            var data = page.GetProperty("data").EnumerateArray().ToList();
            Assert.InRange(data.Count, 1, 2);
            all.AddRange(data);
            cursor = page.GetProperty("next_cursor").ValueKind == JsonValueKind.Null ? null : page.GetProperty("next_cursor").GetString();
        } while (cursor is not null);

        Assert.Equal(
            [
                ("api_key.revoked", issued[1]), ("api_key.created", issued[2]), ("api_key.created", issued[1]),
                ("api_key.created", issued[0]), ("api_key.created", firstKey), ("organization.created", null),
            ],
            all.Select(e => (e.GetProperty("action").GetString()!, e.GetProperty("action").GetString() == "organization.created" ? null : e.GetProperty("resource_id").GetString())));
        Assert.StartsWith("org_", all[^1].GetProperty("resource_id").GetString());
        Assert.All(all[..4], e => Assert.Equal(firstKey, e.GetProperty("actor_key_id").GetString()));
        Assert.All(all[4..], e => Assert.Equal(JsonValueKind.Null, e.GetProperty("actor_key_id").ValueKind));
        Assert.Equal(all.Count, all.Select(e => e.GetProperty("id").GetString()).Distinct().Count());
        Assert.All(all, e => Assert.Matches("^aud_[a-z0-9]+$", e.GetProperty("id").GetString()));
        var times = all.Select(e => e.GetProperty("at").GetDateTimeOffset()).ToList();
        Assert.Equal(times.OrderDescending(), times);

        var revoked = await EventsAsync(client, "action=api_key.revoked");
        Assert.Equal([issued[1]], revoked.Select(e => e.GetProperty("resource_id").GetString()));
        var ofKey = await EventsAsync(client, $"resource_id={issued[1]}");
        Assert.Equal(["api_key.revoked", "api_key.created"], ofKey.Select(e => e.GetProperty("action").GetString()));

        // Another organization's log holds none of it.
        using var other = _node.Client();
        Assert.Empty(await EventsAsync(other, $"resource_id={issued[1]}"));
        Assert.DoesNotContain(issued[0], await other.GetStringAsync("/v1/audit-events?limit=200"));
    }

    [Theory]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=201", "limit")]
    [InlineData("limit=x", "limit")]
    [InlineData("cursor=zzz", "cursor")]
    [InlineData("cursor=YWJj", "cursor")]
    public async Task Bad_queries_name_the_field(string query, string field)
    {
        using var client = _node.Client();
        await (await client.GetAsync($"/v1/audit-events?{query}")).AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_request", field);
    }

    private static async Task<List<JsonElement>> EventsAsync(HttpClient client, string query) =>
        JsonDocument.Parse(await client.GetStringAsync($"/v1/audit-events?{query}")).RootElement.GetProperty("data").EnumerateArray().ToList();
}
