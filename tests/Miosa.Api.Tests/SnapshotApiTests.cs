using System.Net;
using System.Text.Json;

namespace Miosa.Api.Tests;

/// <summary>Snapshots, restore, fork and disk limits through the API of a real node (btrfs sandbox volume).</summary>
[Collection(SharedNodeCollection.Name)]
public class SnapshotApiTests(SharedNode shared)
{
    private const string Checksums = "cd /workspace && find . -path ./proc -prune -o -print | LC_ALL=C sort | while read -r f; do if [ -L \"$f\" ]; then echo \"$f -> $(readlink \"$f\")\"; elif [ -f \"$f\" ]; then echo \"$f $(stat -c %a \"$f\") $(sha256sum < \"$f\" | cut -c1-64)\"; else echo \"$f/ $(stat -c %a \"$f\")\"; fi; done";
    private const string Fill = "mkdir -p app/src && head -c 2000000 /dev/urandom > app/blob.bin && echo 'print(1)' > app/src/main.py && chmod 700 app/src && ln -s src/main.py app/entry";
    private readonly MiosaNode _node = shared.Node;

    [Fact]
    public async Task A_snapshot_keeps_files_and_configuration_and_outlives_its_sandbox()
    {
        using var client = _node.Client();
        var source = await client.CreateSandboxAsync(new { env = new { MODE = "snap" }, resources = new { memory_mb = 256, disk_mb = 512 }, metadata = new { task = "t" } });
        await RunAsync(client, source, Fill);
        var expected = await RunAsync(client, source, Checksums);

        var snapshot = await client.PostJsonAsync($"/v1/sandboxes/{source}/snapshots", new { name = "before-change" }, HttpStatusCode.Created);
        var snapshotId = snapshot.GetProperty("id").GetString()!;
        Assert.StartsWith("snap_", snapshotId);
        Assert.Equal(source, snapshot.GetProperty("sandbox_id").GetString());
        Assert.Equal("ready", snapshot.GetProperty("state").GetString());
        Assert.Equal("before-change", snapshot.GetProperty("name").GetString());
        Assert.InRange(snapshot.GetProperty("size_bytes").GetInt64(), 2_000_000, 2_100_000);
        Assert.Equal(512, snapshot.GetProperty("resources").GetProperty("disk_mb").GetInt32());
        Assert.Equal("t", snapshot.GetProperty("metadata").GetProperty("task").GetString());
        Assert.Equal(snapshotId, (await client.GetJsonAsync($"/v1/snapshots/{snapshotId}")).GetProperty("id").GetString());
        Assert.Contains(snapshotId, await client.GetStringAsync("/v1/snapshots?metadata.task=t"));
        Assert.Contains(snapshotId, await client.GetStringAsync($"/v1/sandboxes/{source}/snapshots"));

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/sandboxes/{source}")).StatusCode);
        var copy = await client.PostJsonAsync("/v1/sandboxes", new { snapshot_id = snapshotId, resources = new { disk_mb = 256 } }, HttpStatusCode.Created);
        var copyId = copy.GetProperty("id").GetString()!;
        Assert.Equal(256, copy.GetProperty("resources").GetProperty("disk_mb").GetInt32());
        Assert.Equal(256, copy.GetProperty("resources").GetProperty("memory_mb").GetInt32());
        Assert.Equal("snap", copy.GetProperty("env").GetProperty("MODE").GetString());
        Assert.Equal(expected, await RunAsync(client, copyId, Checksums));
        Assert.Equal("snap\n", await RunAsync(client, copyId, "echo $MODE"));

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/snapshots/{snapshotId}")).StatusCode);
        await (await client.GetAsync($"/v1/snapshots/{snapshotId}")).AssertProblemAsync(HttpStatusCode.NotFound, "snapshot_not_found");
        Assert.DoesNotContain(snapshotId, await client.GetStringAsync("/v1/snapshots"));
        await (await client.PostAsync("/v1/sandboxes", MiosaNode.Json(new { snapshot_id = snapshotId }))).AssertProblemAsync(HttpStatusCode.NotFound, "snapshot_not_found");
        // The copy does not depend on the snapshot it came from.
        Assert.Equal(expected, await RunAsync(client, copyId, Checksums));
    }

    [Fact]
    public async Task The_second_snapshot_of_an_unchanged_workspace_adds_nothing()
    {
        using var client = _node.Client();
        var id = await client.CreateSandboxAsync();
        await RunAsync(client, id, "for i in $(seq 1 20); do head -c 1000000 /dev/urandom > f$i.bin; done");

        var first = await client.PostJsonAsync($"/v1/sandboxes/{id}/snapshots", new { }, HttpStatusCode.Created);
        var second = await client.PostJsonAsync($"/v1/sandboxes/{id}/snapshots", new { }, HttpStatusCode.Created);

        Assert.Equal(20_000_000, first.GetProperty("size_bytes").GetInt64());
        Assert.Equal(20_000_000, second.GetProperty("total_bytes").GetInt64());
        Assert.Equal(0, second.GetProperty("size_bytes").GetInt64());
    }

    [Fact]
    public async Task A_snapshot_under_concurrent_writes_holds_complete_lines_only()
    {
        using var client = _node.Client();
        var id = await client.CreateSandboxAsync();
        await client.PostJsonAsync($"/v1/sandboxes/{id}/exec",
            new { command = "i=0; while :; do i=$((i+1)); echo \"line $i of the log\" >> log.txt; done", background = true }, HttpStatusCode.Accepted);
        await Task.Delay(500);

        var snapshotId = (await client.PostJsonAsync($"/v1/sandboxes/{id}/snapshots", new { }, HttpStatusCode.Created)).GetProperty("id").GetString()!;

        var copy = await client.CreateSandboxAsync(new { snapshot_id = snapshotId });
        var check = await RunAsync(client, copy, "awk '$0 != \"line \" NR \" of the log\" { print \"bad line \" NR \": \" $0; exit 1 } END { print NR }' log.txt; tail -c 1 log.txt | od -An -c | tr -d ' '");
        var lines = check.Split('\n');
        Assert.True(long.Parse(lines[0], System.Globalization.CultureInfo.InvariantCulture) > 10, check);
        Assert.Equal("\\n", lines[1]);
        // The writer was thawed and goes on.
        var before = await RunAsync(client, id, "wc -l < log.txt");
        await Task.Delay(200);
        Assert.NotEqual(before, await RunAsync(client, id, "wc -l < log.txt"));
    }

    [Fact]
    public async Task Restore_brings_back_the_files_and_starts_processes_afresh()
    {
        using var client = _node.Client();
        var id = await client.CreateSandboxAsync();
        await RunAsync(client, id, Fill);
        var expected = await RunAsync(client, id, Checksums);
        var snapshotId = (await client.PostJsonAsync($"/v1/sandboxes/{id}/snapshots", new { }, HttpStatusCode.Created)).GetProperty("id").GetString()!;
        await RunAsync(client, id, "rm -rf app && echo broken > broken.txt");
        await client.PostJsonAsync($"/v1/sandboxes/{id}/exec", new { command = "sleep 900", background = true }, HttpStatusCode.Accepted);

        var restored = await client.PostJsonAsync($"/v1/sandboxes/{id}/restore", new { snapshot_id = snapshotId }, HttpStatusCode.OK);

        Assert.Equal("running", restored.GetProperty("state").GetString());
        Assert.Equal(expected, await RunAsync(client, id, Checksums));
        Assert.Equal("none\n", await RunAsync(client, id, "pgrep -x sleep || echo none"));
        Assert.Equal("ok\n", await RunAsync(client, id, "echo more >> app/src/main.py && echo ok"));
    }

    [Fact]
    public async Task Forks_are_byte_identical_copies_isolated_from_each_other()
    {
        using var client = _node.Client();
        var source = await client.CreateSandboxAsync(new { env = new { ROLE = "source" }, external_user_id = "forker" });
        await RunAsync(client, source, Fill);
        var expected = await RunAsync(client, source, Checksums);

        var answer = await client.PostJsonAsync($"/v1/sandboxes/{source}/fork", new { count = 3 }, HttpStatusCode.Created);

        var forks = answer.GetProperty("data").EnumerateArray().ToList();
        Assert.Equal(3, forks.Count);
        var ids = forks.Select(f => f.GetProperty("id").GetString()!).ToList();
        Assert.Equal(3, ids.Distinct().Count());
        Assert.All(forks, f => Assert.Equal("running", f.GetProperty("state").GetString()));
        Assert.All(forks, f => Assert.Equal("forker", f.GetProperty("external_user_id").GetString()));
        foreach (var fork in ids)
            Assert.Equal(expected, await RunAsync(client, fork, Checksums));
        Assert.Equal("source\n", await RunAsync(client, ids[0], "echo $ROLE"));

        await RunAsync(client, ids[0], "echo mine > mine.txt && echo changed > app/src/main.py");
        foreach (var other in ids.Skip(1).Append(source))
            Assert.Equal("absent\nprint(1)\n", await RunAsync(client, other, "cat mine.txt 2>/dev/null || echo absent; cat app/src/main.py"));
        Assert.Equal("1 fork\n", await RunAsync(client, (await client.PostJsonAsync($"/v1/sandboxes/{source}/fork", new { }, HttpStatusCode.Created))
            .GetProperty("data")[0].GetProperty("id").GetString()!, "echo 1 fork"));
    }

    [Fact]
    public async Task Bad_requests_name_their_field_and_unknown_ids_are_404()
    {
        using var client = _node.Client();
        var id = await client.CreateSandboxAsync();
        await (await client.PostAsync($"/v1/sandboxes/{id}/fork", MiosaNode.Json(new { count = 0 }))).AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_request", "count");
        await (await client.PostAsync($"/v1/sandboxes/{id}/fork", MiosaNode.Json(new { count = 101 }))).AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_request", "count");
        await (await client.PostAsync($"/v1/sandboxes/{id}/restore", MiosaNode.Json(new { }))).AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_request", "snapshot_id");
        await (await client.PostAsync($"/v1/sandboxes/{id}/restore", MiosaNode.Json(new { snapshot_id = "snap_doesnotexist00" }))).AssertProblemAsync(HttpStatusCode.NotFound, "snapshot_not_found");
        await (await client.PostAsync("/v1/sandboxes", MiosaNode.Json(new { snapshot_id = "snap_doesnotexist00" }))).AssertProblemAsync(HttpStatusCode.NotFound, "snapshot_not_found");
        await (await client.PostAsync("/v1/sandboxes", MiosaNode.Json(new { snapshot_id = "not-a-snapshot" }))).AssertProblemAsync(HttpStatusCode.NotFound, "snapshot_not_found");
        await (await client.PostAsync("/v1/sandboxes/sbx_doesnotexist000/fork", MiosaNode.Json(new { }))).AssertProblemAsync(HttpStatusCode.NotFound, "sandbox_not_found");
        await (await client.PostAsync("/v1/sandboxes/sbx_doesnotexist000/snapshots", MiosaNode.Json(new { }))).AssertProblemAsync(HttpStatusCode.NotFound, "sandbox_not_found");
        await (await client.DeleteAsync("/v1/snapshots/snap_doesnotexist00")).AssertProblemAsync(HttpStatusCode.NotFound, "snapshot_not_found");

        // Another organization's snapshot is as absent as a missing one.
        var snapshotId = (await client.PostJsonAsync($"/v1/sandboxes/{id}/snapshots", new { }, HttpStatusCode.Created)).GetProperty("id").GetString()!;
        using var other = _node.Client(await _node.CreateOrganizationAsync("snap-other-" + Guid.NewGuid().ToString("N")[..8]));
        var theirs = await other.CreateSandboxAsync();
        await (await other.PostAsync("/v1/sandboxes", MiosaNode.Json(new { snapshot_id = snapshotId }))).AssertProblemAsync(HttpStatusCode.NotFound, "snapshot_not_found");
        await (await other.PostAsync($"/v1/sandboxes/{theirs}/restore", MiosaNode.Json(new { snapshot_id = snapshotId }))).AssertProblemAsync(HttpStatusCode.NotFound, "snapshot_not_found");
        await (await other.PostAsync($"/v1/sandboxes/{id}/fork", MiosaNode.Json(new { }))).AssertProblemAsync(HttpStatusCode.NotFound, "sandbox_not_found");
    }

    [Fact]
    public async Task Writing_past_disk_mb_fails_inside_the_sandbox_and_neighbours_keep_working()
    {
        using var client = _node.Client();
        var image = Path.Combine(_node.DataDir, "volume.btrfs");
        var full = await client.CreateSandboxAsync(new { resources = new { disk_mb = 64 } });
        var neighbour = await client.CreateSandboxAsync(new { resources = new { disk_mb = 64 } });
        var before = AllocatedBytes(image);

        var fill = await client.ExecAsync(full, new { command = "dd if=/dev/zero of=fill bs=1M count=300 conv=fsync 2>&1; echo exit=$?", timeout_seconds = 120 });

        var output = fill.GetProperty("stdout").GetString()!;
        Assert.Contains("Disk quota exceeded", output);
        Assert.Contains("exit=1", output);
        Assert.InRange(AllocatedBytes(image) - before, long.MinValue, 80L << 20);
        Assert.Equal("ok\n", await RunAsync(client, neighbour, "head -c 20000000 /dev/zero > data && sync && echo ok"));
        Assert.Equal("ok\n", await RunAsync(client, full, "rm fill && sync && echo fine > after.txt && echo ok"));
    }

    private async Task<string> RunAsync(HttpClient client, string id, string command)
    {
        var result = await client.ExecAsync(id, new { command, timeout_seconds = 120 });
        Assert.True(result.GetProperty("exit_code").GetInt32() == 0, $"{command}: {result}");
        return result.GetProperty("stdout").GetString()!;
    }

    private static long AllocatedBytes(string path)
    {
        using var du = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("du", ["-B1", "--", path]) { RedirectStandardOutput = true })!;
        var text = du.StandardOutput.ReadToEnd();
        du.WaitForExit();
        return long.Parse(text.Split('\t')[0], System.Globalization.CultureInfo.InvariantCulture);
    }
}

internal static class JsonClientExtensions
{
    public static async Task<JsonElement> GetJsonAsync(this HttpClient client, string path)
    {
        var response = await client.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {path}: {response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }
}
