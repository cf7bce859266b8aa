using System.Net;
using System.Text.Json;
using Miosa.HostAgent.Tests.Sandboxes;

namespace Miosa.Api.Tests;

/// <summary>
/// allow_internet through the API, on a node whose sandboxes' egress leaves through a network
/// namespace this test made (MIOSA_EGRESS_NETNS): 203.0.113.10 in it stands for the internet, and
/// no packet leaves it.
/// </summary>
public class SandboxEgressApiTests
{
    [Fact]
    public async Task Allow_internet_is_accepted_reported_kept_apart_from_the_node_and_back_after_a_restart()
    {
        await using var outside = await TestNetworkNamespace.CreateAsync("203.0.113.10/24");
        var web = outside.Listen(IPAddress.Parse("203.0.113.10"), body: "hello from outside");
        await using var node = new MiosaNode();
        node.Environment["MIOSA_EGRESS_NETNS"] = outside.Path;
        await node.StartAsync();
        var fetch = $"curl -sS -m 10 http://203.0.113.10:{web.Port}/";
        string online, offline;
        using (var client = node.Client())
        {
            var created = await client.PostJsonAsync("/v1/sandboxes", new { allow_internet = true }, HttpStatusCode.Created);
            Assert.True(created.GetProperty("allow_internet").GetBoolean());
            online = created.GetProperty("id").GetString()!;
            Assert.True(JsonDocument.Parse(await client.GetStringAsync($"/v1/sandboxes/{online}")).RootElement.GetProperty("allow_internet").GetBoolean());
            offline = await client.CreateSandboxAsync();
            Assert.False(JsonDocument.Parse(await client.GetStringAsync($"/v1/sandboxes/{offline}")).RootElement.GetProperty("allow_internet").GetBoolean());

            Assert.Equal("hello from outside", (await client.ExecAsync(online, new { command = fetch })).GetProperty("stdout").GetString());
            // The node's own API: neither through slirp's gateway to the host's loopback nor on the sandbox's loopback.
            foreach (var address in (string[])["10.0.2.2", "127.0.0.1"])
            {
                var api = await client.ExecAsync(online, new { command = $"curl -sS -m 5 http://{address}:{node.ApiPort}/healthz" });
                Assert.Equal(7, api.GetProperty("exit_code").GetInt32());
            }

            var none = await client.ExecAsync(offline, new { command = fetch });
            Assert.Equal(7, none.GetProperty("exit_code").GetInt32());
        }

        // kill -9: slirp4netns dies with the node, and comes back with the sandbox.
        await node.KillAsync();
        await using var second = new MiosaNode(node.DataDir);
        second.Environment["MIOSA_EGRESS_NETNS"] = outside.Path;
        await second.StartAsync();
        using var after = second.Client();
        Assert.Equal("hello from outside", (await after.ExecAsync(online, new { command = fetch })).GetProperty("stdout").GetString());
        Assert.Equal(7, (await after.ExecAsync(offline, new { command = fetch })).GetProperty("exit_code").GetInt32());
        foreach (var id in (string[])[online, offline])
        {
            Assert.Equal(HttpStatusCode.NoContent, (await after.DeleteAsync($"/v1/sandboxes/{id}")).StatusCode);
        }
    }
}
