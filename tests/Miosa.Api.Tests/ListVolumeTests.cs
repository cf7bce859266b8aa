using System.Net;
using System.Text.Json;

namespace Miosa.Api.Tests;

/// <summary>Filters and pagination over a few hundred real sandboxes of one organization.</summary>
[Collection(SharedNodeCollection.Name)]
public class ListVolumeTests(SharedNode shared)
{
    private const int Sandboxes = 300;
    private const int Users = 10;
    private readonly MiosaNode _node = shared.Node;

    [Fact]
    public async Task Every_user_pages_through_exactly_their_own_sandboxes()
    {
        using var client = _node.Client(await _node.CreateOrganizationAsync("volume-" + Guid.NewGuid().ToString("N")[..8]));
        var created = new (string Id, string User, string Colour)[Sandboxes];
        await Parallel.ForAsync(0, Sandboxes, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
        {
            var user = $"user-{i % Users}";
            var colour = i % 3 == 0 ? "red" : "blue";
            created[i] = (await client.CreateSandboxAsync(new { external_user_id = user, metadata = new { colour } }), user, colour);
        });

        try
        {
            var all = await PageThroughAsync(client, "limit=200");
            Assert.Equal(Sandboxes, all.Count);
            Assert.Equal(Sandboxes, all.Distinct().Count());

            for (var u = 0; u < Users; u += 3)
            {
                var user = $"user-{u}";
                var pages = await PageThroughAsync(client, $"limit=7&external_user_id={user}");
                Assert.Equal(created.Where(c => c.User == user).Select(c => c.Id).Order(), pages.Order());
                var red = await PageThroughAsync(client, $"limit=5&external_user_id={user}&metadata.colour=red");
                Assert.Equal(created.Where(c => c.User == user && c.Colour == "red").Select(c => c.Id).Order(), red.Order());
            }
            // Creation order is the list's order: a page boundary never reorders.
            Assert.Equal(all, await PageThroughAsync(client, "limit=13"));
        }
        finally
        {
            await Parallel.ForEachAsync(created.Where(c => c.Id is not null), new ParallelOptions { MaxDegreeOfParallelism = 8 },
                async (c, _) => Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/sandboxes/{c.Id}")).StatusCode));
        }
    }

    private static async Task<List<string>> PageThroughAsync(HttpClient client, string query)
    {
        var ids = new List<string>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var page = JsonDocument.Parse(await client.GetStringAsync($"/v1/sandboxes?{query}" + (cursor is null ? "" : $"&cursor={cursor}"))).RootElement;
            ids.AddRange(page.GetProperty("data").EnumerateArray().Select(s => s.GetProperty("id").GetString()!));
            cursor = page.GetProperty("next_cursor").ValueKind == JsonValueKind.Null ? null : page.GetProperty("next_cursor").GetString();
            Assert.True(++pages < 500, "pagination does not end");
        } while (cursor is not null);
        return ids;
    }
}
