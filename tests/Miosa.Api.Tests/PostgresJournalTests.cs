using System.Net;
using System.Text.Json;

namespace Miosa.Api.Tests;

/// <summary>The same node with MIOSA_DATABASE pointing at a real PostgreSQL: journal, snapshots and read models move there.</summary>
public class PostgresJournalTests
{
    [Fact]
    public async Task A_node_on_postgresql_keeps_everything_acknowledged_across_a_kill_9()
    {
        await using var postgres = await PostgresServer.StartAsync();
        await postgres.CreateDatabaseAsync("miosa");
        await using var first = new MiosaNode();
        first.Environment["MIOSA_DATABASE"] = postgres.ConnectionString("miosa");
        await first.StartAsync();
        string id;
        using (var client = first.Client())
        {
            id = await client.CreateSandboxAsync(new { external_user_id = "pg-user", metadata = new { on = "postgres" } });
            Assert.Equal(HttpStatusCode.NoContent, (await client.PutAsync($"/v1/sandboxes/{id}/files?path=kept.txt", new StringContent("in pg"))).StatusCode);
            var listed = JsonDocument.Parse(await client.GetStringAsync("/v1/sandboxes?metadata.on=postgres")).RootElement.GetProperty("data");
            Assert.Equal(id, Assert.Single(listed.EnumerateArray()).GetProperty("id").GetString());
        }
        Assert.False(File.Exists(Path.Combine(first.DataDir, "miosa.db")), "nothing may be journalled in SQLite when MIOSA_DATABASE is set");
        await first.KillAsync();

        await using var second = new MiosaNode(first.DataDir);
        second.Environment["MIOSA_DATABASE"] = postgres.ConnectionString("miosa");
        await second.StartAsync();
        using var after = second.Client();
        var sandbox = JsonDocument.Parse(await after.GetStringAsync($"/v1/sandboxes/{id}")).RootElement;
        Assert.Equal("running", sandbox.GetProperty("state").GetString());
        Assert.Equal("in pg", await after.GetStringAsync($"/v1/sandboxes/{id}/files?path=kept.txt"));
        var listedAfter = JsonDocument.Parse(await after.GetStringAsync("/v1/sandboxes?external_user_id=pg-user")).RootElement.GetProperty("data");
        Assert.Single(listedAfter.EnumerateArray());
    }
}
