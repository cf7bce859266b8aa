using System.Net;
using System.Text.Json;

namespace Miosa.Api.Tests;

public class RestartTests
{
    [Fact]
    public async Task Everything_acknowledged_survives_a_kill_9()
    {
        await using var first = new MiosaNode();
        await first.StartAsync();
        var key = first.DefaultKey;
        string kept, destroyed, otherKey;
        using (var client = first.Client())
        {
            kept = await client.CreateSandboxAsync(new { metadata = new { keep = "yes" } });
            Assert.Equal(HttpStatusCode.NoContent, (await client.PutAsync($"/v1/sandboxes/{kept}/files?path=notes/today.md", new StringContent("remember me"))).StatusCode);
            await client.PostJsonAsync($"/v1/sandboxes/{kept}/exec", new { command = "sleep 1000", background = true }, HttpStatusCode.Accepted);
            destroyed = await client.CreateSandboxAsync();
            Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/sandboxes/{destroyed}")).StatusCode);
            otherKey = await first.CreateOrganizationAsync("survivor");
        }
        await first.KillAsync();

        await using var second = new MiosaNode(first.DataDir);
        await second.StartAsync();
        Assert.Equal(key, second.DefaultKey);
        using var after = second.Client();
        var sandbox = JsonDocument.Parse(await after.GetStringAsync($"/v1/sandboxes/{kept}")).RootElement;
        Assert.Equal("running", sandbox.GetProperty("state").GetString());
        Assert.Equal("yes", sandbox.GetProperty("metadata").GetProperty("keep").GetString());
        Assert.Equal("remember me", await after.GetStringAsync($"/v1/sandboxes/{kept}/files?path=notes/today.md"));
        // Processes start fresh after a restart.
        var ps = await after.ExecAsync(kept, new { command = "ps -eo comm | grep -c '^sleep' || true" });
        Assert.Equal("0", ps.GetProperty("stdout").GetString()!.Trim());

        var gone = JsonDocument.Parse(await after.GetStringAsync($"/v1/sandboxes/{destroyed}")).RootElement;
        Assert.Equal("destroyed", gone.GetProperty("state").GetString());
        Assert.False(Directory.Exists(Path.Combine(first.DataDir, "sandboxes", destroyed, "workspace")));

        using var other = second.Client(otherKey);
        Assert.Equal(HttpStatusCode.OK, (await other.GetAsync("/v1/api-keys")).StatusCode);
    }
}
