using System.Net;
using System.Text.Json;
using Npgsql;

namespace Miosa.Api.Tests;

/// <summary>Lists never answer stale data as current: a read model that cannot catch up makes them answer 503.</summary>
public class ReadModelLagTests
{
    [Fact]
    public async Task Lists_answer_503_read_model_lagging_while_their_projection_cannot_commit_and_recover_after()
    {
        await using var postgres = await PostgresServer.StartAsync();
        await postgres.CreateDatabaseAsync("miosa");
        var database = postgres.ConnectionString("miosa");
        await using var node = new MiosaNode();
        node.Environment["MIOSA_DATABASE"] = database;
        await node.StartAsync();
        using var client = node.Client();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v1/workspaces")).StatusCode);

        string id;
        await using (var connection = new NpgsqlConnection(database))
        {
            await connection.OpenAsync();
            // Every projection commits its page with its offset: holding the offsets table holds them all.
            await using var hold = await connection.BeginTransactionAsync();
            await using (var lockOffsets = new NpgsqlCommand("LOCK TABLE read_offsets IN ACCESS EXCLUSIVE MODE", connection, hold))
            {
                await lockOffsets.ExecuteNonQueryAsync();
            }
            id = (await client.PostJsonAsync("/v1/workspaces", new { name = "Written while stuck" }, HttpStatusCode.Created)).GetProperty("id").GetString()!;

            var list = await client.GetAsync("/v1/workspaces");
            Assert.Equal("1", list.Headers.RetryAfter?.ToString());
            await list.AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "read_model_lagging");
            await (await client.GetAsync("/v1/audit-events")).AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "read_model_lagging");
            await hold.RollbackAsync();
        }

        var listed = JsonDocument.Parse(await client.GetStringAsync("/v1/workspaces")).RootElement.GetProperty("data");
        Assert.Equal(id, Assert.Single(listed.EnumerateArray()).GetProperty("id").GetString());
        var audited = JsonDocument.Parse(await client.GetStringAsync("/v1/audit-events")).RootElement.GetProperty("data");
        Assert.Equal(id, audited[0].GetProperty("resource_id").GetString());
    }
}
