using Miosa.HostAgent.Storage;
using Miosa.HostAgent.Tests.Sandboxes;

namespace Miosa.HostAgent.Tests.Storage;

/// <summary>disk_mb is a hard limit: enforced by the volume's quota groups, not by trust.</summary>
public sealed class DiskLimitTests(VolumeFixture fixture) : IClassFixture<VolumeFixture>
{
    [Fact]
    public async Task Writing_past_disk_mb_fails_inside_and_the_host_disk_grows_at_most_by_the_limit()
    {
        var (_, neighbour) = await fixture.StartAsync(VolumeFixture.Spec(diskMb: 64));
        var (_, client) = await fixture.StartAsync(VolumeFixture.Spec(diskMb: 64));
        var imageBefore = AllocatedBytes(fixture.Volume.Image);

        var fill = await client.RunAsync("dd if=/dev/zero of=fill bs=1M count=200 conv=fsync 2>&1; echo exit=$?", timeout: TimeSpan.FromSeconds(60));

        Assert.Contains("Disk quota exceeded", fill.Stdout);
        Assert.Contains("exit=1", fill.Stdout);
        var size = long.Parse((await client.RunAsync("stat -c %s fill")).Stdout.Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(size, 32L << 20, 64L << 20);
        Assert.Contains("Disk quota exceeded", (await client.RunAsync("echo more > other.txt 2>&1; python3 -c \"open('x','wb').write(b'y'*(1<<20))\" 2>&1")).Stdout);
        Assert.InRange(AllocatedBytes(fixture.Volume.Image) - imageBefore, 0, 80L << 20);

        // The neighbour writes as usual, and the full sandbox recovers once it deletes.
        Assert.Equal("ok\n", (await neighbour.RunAsync("head -c 10000000 /dev/zero > data && sync && echo ok")).Stdout);
        Assert.Equal("ok\n", (await client.RunAsync("rm fill && sync && echo again > other.txt && echo ok")).Stdout);
    }

    [Fact]
    public async Task A_sandbox_cannot_escape_its_limit_through_a_subvolume_of_its_own()
    {
        var (_, client) = await fixture.StartAsync(VolumeFixture.Spec(diskMb: 64));

        var attempt = await client.RunAsync("btrfs subvolume create nested 2>&1; btrfs subvolume snapshot . snap 2>&1; echo done");

        // btrfs-progs announces the subvolume before asking the kernel; the kernel refuses.
        Assert.Equal(2, attempt.Stdout.Split('\n').Count(l => l.Contains("Operation not permitted", StringComparison.Ordinal)));
        Assert.Equal("absent\n", (await client.RunAsync("test -e nested || test -e snap || echo absent")).Stdout);
    }

    /// <summary>Blocks the sparse image really takes on the host's disk.</summary>
    private static long AllocatedBytes(string path)
    {
        var output = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("du", ["-B1", "--", path]) { RedirectStandardOutput = true })!;
        var text = output.StandardOutput.ReadToEnd();
        output.WaitForExit();
        return long.Parse(text.Split('\t')[0], System.Globalization.CultureInfo.InvariantCulture);
    }
}
