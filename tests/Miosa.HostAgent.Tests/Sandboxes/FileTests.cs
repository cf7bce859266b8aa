using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Miosa.HostAgent.Sandboxes;
using Xunit.Abstractions;

namespace Miosa.HostAgent.Tests.Sandboxes;

/// <summary>Files through the agent, in one shared sandbox.</summary>
public sealed class FileTests(FileTests.Sandbox sandbox, ITestOutputHelper output) : IClassFixture<FileTests.Sandbox>
{
    public sealed class Sandbox : IAsyncLifetime
    {
        public SandboxFixture Fixture { get; } = new();

        public SandboxAgentClient Client { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            await Fixture.InitializeAsync();
            Client = await Fixture.StartAsync(SandboxFixture.Spec(limits: new SandboxLimits(Cpu: 2, MemoryMb: 1024, Pids: 256)));
        }

        public Task DisposeAsync() => Fixture.DisposeAsync();
    }

    private SandboxAgentClient Client => sandbox.Client;

    private static CancellationToken None => CancellationToken.None;

    [Fact]
    public async Task Put_get_list_delete()
    {
        await Client.WriteFileAsync("notes/deep/er/hello.txt", Text("hello world"), None);

        Assert.Equal("hello world", await ReadTextAsync("notes/deep/er/hello.txt"));
        Assert.Equal("hello world", await ReadTextAsync("/workspace/notes/deep/er/hello.txt"));
        Assert.Equal("hello world", (await Client.RunAsync("cat notes/deep/er/hello.txt")).Stdout);

        var entries = await Client.ListAsync("notes/deep/er", None);
        var entry = Assert.Single(entries);
        Assert.Equal("hello.txt", entry.Name);
        Assert.Equal("/workspace/notes/deep/er/hello.txt", entry.Path);
        Assert.Equal("file", entry.Type);
        Assert.Equal(11, entry.Size);
        Assert.Equal(Convert.ToInt32("644", 8), entry.Mode);
        Assert.InRange(entry.ModifiedAt, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddMinutes(1));

        var top = await Client.ListAsync("notes", None);
        Assert.Equal("dir", Assert.Single(top).Type);

        await Client.DeleteAsync("notes", None);
        var missing = await Assert.ThrowsAsync<SandboxFileException>(() => Client.ListAsync("notes", None));
        Assert.Equal(SandboxFileError.NotFound, missing.Error);
    }

    [Fact]
    public async Task Overwrite_replaces_content_and_keeps_the_mode()
    {
        await Client.WriteFileAsync("script.sh", Text("echo one"), None);
        await Client.RunAsync("chmod 755 script.sh");

        await Client.WriteFileAsync("script.sh", Text("echo two"), None);

        Assert.Equal("two\n", (await Client.RunAsync("./script.sh")).Stdout);
        Assert.DoesNotContain(await Client.ListAsync(".", None), e => e.Name.Contains(".miosa-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Empty_file_round_trips()
    {
        await Client.WriteFileAsync("empty", new MemoryStream(), None);

        Assert.Equal(string.Empty, await ReadTextAsync("empty"));
        Assert.Equal(0, (await Client.ListAsync(".", None)).Single(e => e.Name == "empty").Size);
    }

    [Fact]
    public async Task Missing_file_is_not_found_before_any_data()
    {
        var read = await Assert.ThrowsAsync<SandboxFileException>(() => Client.OpenReadAsync("does/not/exist", None));
        Assert.Equal(SandboxFileError.NotFound, read.Error);

        var delete = await Assert.ThrowsAsync<SandboxFileException>(() => Client.DeleteAsync("nope.txt", None));
        Assert.Equal(SandboxFileError.NotFound, delete.Error);
    }

    [Theory]
    [InlineData("../etc/passwd")]
    [InlineData("a/../../etc/passwd")]
    [InlineData("..")]
    public async Task Relative_paths_cannot_leave_the_workspace(string path)
    {
        var read = await Assert.ThrowsAsync<SandboxFileException>(() => Client.OpenReadAsync(path, None));
        Assert.Equal(SandboxFileError.InvalidPath, read.Error);

        var write = await Assert.ThrowsAsync<SandboxFileException>(() => Client.WriteFileAsync(path + "/x", Text("x"), None));
        Assert.Equal(SandboxFileError.InvalidPath, write.Error);
    }

    [Fact]
    public async Task Symlinks_out_of_the_workspace_are_invalid_for_relative_paths()
    {
        await Client.RunAsync("ln -sfn /etc etc-link; ln -sfn /etc/hostname host-link");

        Assert.Equal(SandboxFileError.InvalidPath, (await Assert.ThrowsAsync<SandboxFileException>(() => Client.OpenReadAsync("etc-link/hostname", None))).Error);
        Assert.Equal(SandboxFileError.InvalidPath, (await Assert.ThrowsAsync<SandboxFileException>(() => Client.OpenReadAsync("host-link", None))).Error);
        Assert.Equal(SandboxFileError.InvalidPath, (await Assert.ThrowsAsync<SandboxFileException>(() => Client.ListAsync("etc-link", None))).Error);
        Assert.Equal(SandboxFileError.InvalidPath, (await Assert.ThrowsAsync<SandboxFileException>(() => Client.WriteFileAsync("etc-link/new", Text("x"), None))).Error);

        // Listing shows the link itself; deleting removes the link, never its target.
        Assert.Equal("symlink", (await Client.ListAsync(".", None)).Single(e => e.Name == "etc-link").Type);
        await Client.DeleteAsync("etc-link", None);
        Assert.NotEmpty(await Client.ListAsync("/etc", None));
    }

    [Fact]
    public async Task Symlinks_inside_the_workspace_are_followed()
    {
        await Client.WriteFileAsync("real/data.txt", Text("inside"), None);
        await Client.RunAsync("ln -sfn real alias");

        Assert.Equal("inside", await ReadTextAsync("alias/data.txt"));
    }

    [Fact]
    public async Task Absolute_paths_reach_the_sandbox_filesystem()
    {
        await Client.WriteFileAsync("/tmp/scratch/a.txt", Text("tmp"), None);

        Assert.Equal("tmp", await ReadTextAsync("/tmp/scratch/a.txt"));
        Assert.Contains("user:x:1000", await ReadTextAsync("/etc/passwd"), StringComparison.Ordinal);
        Assert.Contains(await Client.ListAsync("/usr", None), e => e.Name == "bin" && e.Type == "dir");
    }

    [Theory]
    [InlineData("/usr/x")]
    [InlineData("/etc/new.conf")]
    [InlineData("/usr/lib/new/dir/file")]
    [InlineData("/x")]
    public async Task System_paths_are_read_only(string path)
    {
        var write = await Assert.ThrowsAsync<SandboxFileException>(() => Client.WriteFileAsync(path, Text("x"), None));

        Assert.Equal(SandboxFileError.ReadOnly, write.Error);
    }

    [Fact]
    public async Task Deleting_a_system_file_is_refused()
    {
        var delete = await Assert.ThrowsAsync<SandboxFileException>(() => Client.DeleteAsync("/usr/bin/sh", None));

        Assert.Contains(delete.Error, new[] { SandboxFileError.ReadOnly, SandboxFileError.PermissionDenied });
    }

    [Fact]
    public async Task Directories_and_files_are_told_apart()
    {
        await Client.WriteFileAsync("dir/file", Text("x"), None);

        Assert.Equal(SandboxFileError.IsADirectory, (await Assert.ThrowsAsync<SandboxFileException>(() => Client.OpenReadAsync("dir", None))).Error);
        Assert.Equal(SandboxFileError.IsADirectory, (await Assert.ThrowsAsync<SandboxFileException>(() => Client.WriteFileAsync("dir", Text("x"), None))).Error);
        Assert.Equal(SandboxFileError.NotADirectory, (await Assert.ThrowsAsync<SandboxFileException>(() => Client.ListAsync("dir/file", None))).Error);
        Assert.Equal(SandboxFileError.NotADirectory, (await Assert.ThrowsAsync<SandboxFileException>(() => Client.WriteFileAsync("dir/file/below", Text("x"), None))).Error);
    }

    [Fact]
    public async Task Unreadable_files_are_permission_denied()
    {
        await Client.WriteFileAsync("secret", Text("x"), None);
        await Client.RunAsync("chmod 000 secret");

        Assert.Equal(SandboxFileError.PermissionDenied, (await Assert.ThrowsAsync<SandboxFileException>(() => Client.OpenReadAsync("secret", None))).Error);
        Assert.Equal(SandboxFileError.PermissionDenied, (await Assert.ThrowsAsync<SandboxFileException>(() => Client.OpenReadAsync("/etc/shadow", None))).Error);
    }

    [Fact]
    public async Task Fifty_megabytes_round_trip_unchanged()
    {
        var content = new byte[50 << 20];
        Random.Shared.NextBytes(content);

        await Client.WriteFileAsync("big.bin", new MemoryStream(content), None);
        await using var stream = await Client.OpenReadAsync("big.bin", None);
        var copy = new MemoryStream();
        await stream.CopyToAsync(copy);

        Assert.Equal(SHA256.HashData(content), SHA256.HashData(copy.ToArray()));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(content)), (await Client.RunAsync("sha256sum big.bin | cut -d' ' -f1")).Stdout.Trim());
        await Client.DeleteAsync("big.bin", None);
    }

    [Fact]
    public async Task Upload_and_download_are_fast()
    {
        // Not a benchmark (bench/ has those): a generous floor that catches per-byte work.
        var content = new byte[200 << 20];
        var stopwatch = Stopwatch.StartNew();
        await Client.WriteFileAsync("/tmp/fast.bin", new MemoryStream(content), None);
        var upload = stopwatch.Elapsed;
        stopwatch.Restart();
        await using (var stream = await Client.OpenReadAsync("/tmp/fast.bin", None))
        {
            await stream.CopyToAsync(Stream.Null);
        }

        var download = stopwatch.Elapsed;
        output.WriteLine($"200 MB upload {200 / upload.TotalSeconds:F0} MB/s, download {200 / download.TotalSeconds:F0} MB/s");
        await Client.DeleteAsync("/tmp/fast.bin", None);
        Assert.True(upload < TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Files_belong_to_the_sandbox_user()
    {
        await Client.WriteFileAsync("owned.txt", Text("x"), None);

        Assert.Equal("user user\n", (await Client.RunAsync("stat -c '%U %G' owned.txt")).Stdout);
    }

    [Fact]
    public async Task Reading_while_writing_streams_without_buffering_the_file()
    {
        // A producer that never ends would hang a client that buffers: read 1 MiB and stop.
        await Client.RunAsync("head -c 3145728 /dev/urandom > stream.bin");
        await using var stream = await Client.OpenReadAsync("stream.bin", None);
        var buffer = new byte[1 << 20];
        var total = 0;
        while (total < buffer.Length)
        {
            total += await stream.ReadAsync(buffer.AsMemory(total));
        }

        Assert.Equal(buffer.Length, total);
    }

    private static MemoryStream Text(string text) => new(Encoding.UTF8.GetBytes(text));

    private async Task<string> ReadTextAsync(string path)
    {
        await using var stream = await Client.OpenReadAsync(path, None);
        return await new StreamReader(stream).ReadToEndAsync();
    }
}
