using System.Net;
using System.Text.Json;
using Npgsql;

namespace Miosa.Api.Tests;

/// <summary>The audit log on PostgreSQL, across a kill -9 and a projection that replays from the start.</summary>
public class AuditLogPersistenceTests
{
    [Fact]
    public async Task The_audit_log_survives_a_restart_and_a_replay_without_duplicates()
    {
        await using var postgres = await PostgresServer.StartAsync();
        await postgres.CreateDatabaseAsync("miosa");
        var database = postgres.ConnectionString("miosa");
        await using var first = new MiosaNode();
        first.Environment["MIOSA_DATABASE"] = database;
        await first.StartAsync();
        List<string> before;
        using (var client = first.Client())
        {
            var issued = (await client.PostJsonAsync("/v1/api-keys", new { name = "ci" }, HttpStatusCode.Created)).GetProperty("id").GetString()!;
            Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/api-keys/{issued}")).StatusCode);
            before = await ActionsAsync(client);
            Assert.Equal(["api_key.revoked", "api_key.created", "api_key.created", "organization.created"], before.Select(e => e.Split(' ')[0]));
        }
        await first.KillAsync();

        // The projection forgets where it was: it replays every audited event into rows it already has.
        await using (var connection = new NpgsqlConnection(database))
        {
            await connection.OpenAsync();
            await using var forget = new NpgsqlCommand("DELETE FROM read_offsets WHERE projection = 'audit'", connection);
            Assert.Equal(1, await forget.ExecuteNonQueryAsync());
        }

        await using var second = new MiosaNode(first.DataDir);
        second.Environment["MIOSA_DATABASE"] = database;
        await second.StartAsync();
        using var after = second.Client();
        Assert.Equal(before, await ActionsAsync(after));
        var next = (await after.PostJsonAsync("/v1/api-keys", new { name = "after" }, HttpStatusCode.Created)).GetProperty("id").GetString()!;
        var now = await ActionsAsync(after);
        Assert.StartsWith($"api_key.created {next} aud_", now[0]);
        Assert.Equal(before, now[1..]);
    }

    private static async Task<List<string>> ActionsAsync(HttpClient client) =>
        JsonDocument.Parse(await client.GetStringAsync("/v1/audit-events?limit=200")).RootElement.GetProperty("data").EnumerateArray()
            .Select(e => $"{e.GetProperty("action").GetString()} {e.GetProperty("resource_id").GetString()} {e.GetProperty("id").GetString()}")
            .ToList();
}
