using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Miosa.Bench;

// Snapshots, restore, fork and create-from-snapshot of a real node, over the public API, next to
// `cp -a` of the same workspace. Usage: dotnet run -c Release --project bench/Miosa.Bench.Snapshots
// [-- --files 1000 --file-kb 100 --repeat 5 --markdown PATH --api-dll PATH]
var files = 1000;
var fileKb = 100;
var repeat = 5;
string? markdown = null;
string? apiDll = null;
for (var a = new ArgReader(args); a.Next();)
{
    switch (a.Current)
    {
        case "--files": files = int.Parse(a.Value(), CultureInfo.InvariantCulture); break;
        case "--file-kb": fileKb = int.Parse(a.Value(), CultureInfo.InvariantCulture); break;
        case "--repeat": repeat = int.Parse(a.Value(), CultureInfo.InvariantCulture); break;
        case "--markdown": markdown = a.Value(); break;
        case "--api-dll": apiDll = a.Value(); break;
        default:
            Console.Error.WriteLine("usage: dotnet run -c Release --project bench/Miosa.Bench.Snapshots -- [--files N] [--file-kb K] [--repeat R] [--markdown PATH] [--api-dll PATH]");
            return 2;
    }
}

var table = new ResultTable();
var megabytes = files * fileKb / 1024.0;
table.Note($"workspace: {files} files of {fileKb} KiB ({megabytes:F0} MiB) of random bytes; each figure is the median of {repeat} runs (max in brackets)");
await using var node = new MiosaNode(MiosaNode.LocateDll(apiDll));
await node.StartAsync(CancellationToken.None);
using var http = node.Client();
var sandboxes = new List<string>();
var snapshots = new List<string>();
try
{
    var source = await CreateAsync(new { resources = new { disk_mb = 4096 } });
    var empty = await CreateAsync(new { });
    var perDirectory = Math.Max(1, files / 10);
    await ExecAsync(source, $"for d in $(seq 1 10); do mkdir d$d; for f in $(seq 1 {perDirectory}); do head -c {fileKb * 1024} /dev/urandom > d$d/f$f.bin; done; done");
    var workspace = Path.Combine(node.DataDir, "volume", "sandboxes", source, "workspace");
    Log($"workspace of {source} filled");

    // Baselines: a plain copy on the data dir's disk, and the volume's own copy-on-write copy.
    var copy = Measure(() => Run("cp", "-a", workspace, Path.Combine(node.DataDir, "copy")), () => Run("rm", "-rf", Path.Combine(node.DataDir, "copy")));
    var reflink = Measure(() => Run("cp", "-a", "--reflink=always", workspace, Path.Combine(node.DataDir, "volume", "copy")),
        () => Run("rm", "-rf", Path.Combine(node.DataDir, "volume", "copy")));
    var baseline = $"`cp -a` {Latencies.Ms(copy.P50)}";
    table.Add($"baseline: `cp -a` of the workspace on the data dir's disk (ext4)", Show(copy));
    table.Add($"baseline: `cp -a --reflink=always` inside the sandbox volume (btrfs)", Show(reflink));

    var firstSnapshot = await TimeAsync(() => SnapshotAsync(source));
    var first = JsonDocument.Parse(firstSnapshot.Body).RootElement;
    var snapshotId = first.GetProperty("id").GetString()!;
    table.Add("snapshot, first (every file new to the store)", Latencies.Ms(firstSnapshot.Ms), baseline, ResultTable.Ratio(firstSnapshot.Ms, copy.P50),
        ResultTable.Goal("≤ 1 s", firstSnapshot.Ms <= 1000));
    table.Note($"first snapshot: size_bytes {first.GetProperty("size_bytes").GetInt64():N0}, total_bytes {first.GetProperty("total_bytes").GetInt64():N0}, files {first.GetProperty("files").GetInt32()}");
    long unchangedSize = -1;
    var unchanged = await MeasureAsync(async () =>
    {
        var body = await SnapshotAsync(source);
        unchangedSize = JsonDocument.Parse(body).RootElement.GetProperty("size_bytes").GetInt64();
    });
    table.Add("snapshot, workspace unchanged", Show(unchanged), baseline, ResultTable.Ratio(unchanged.P50, copy.P50), ResultTable.Goal("≤ 1 s", unchanged.P50 <= 1000));
    table.Note($"a snapshot of the unchanged workspace adds size_bytes {unchangedSize}");
    var changed = await MeasureAsync(async () =>
    {
        await ExecAsync(source, $"head -c {fileKb * 1024} /dev/urandom > d1/f1.bin");
        await SnapshotAsync(source);
    });
    table.Add("snapshot after rewriting one file (incl. the exec that rewrites it)", Show(changed), baseline, ResultTable.Ratio(changed.P50, copy.P50), ResultTable.Goal("≤ 1 s", changed.P50 <= 1000));

    var restore = await MeasureAsync(() => PostAsync($"/v1/sandboxes/{source}/restore", new { snapshot_id = snapshotId }, HttpStatusCode.OK));
    table.Add("restore (workspace replaced, processes restarted)", Show(restore), baseline, ResultTable.Ratio(restore.P50, copy.P50));

    var forkOne = await MeasureAsync(() => ForkAsync(source, 1));
    table.Add($"fork ×1 of the {megabytes:F0} MiB workspace", Show(forkOne), baseline, ResultTable.Ratio(forkOne.P50, copy.P50), ResultTable.Goal("≤ 200 ms", forkOne.P50 <= 200));
    var forkEmpty = await MeasureAsync(() => ForkAsync(empty, 1));
    table.Add("fork ×1 of an empty workspace (size independence)", Show(forkEmpty));
    var forkTen = await MeasureAsync(() => ForkAsync(source, 10));
    table.Add($"fork ×10 of the {megabytes:F0} MiB workspace, whole call", Show(forkTen), baseline, ResultTable.Ratio(forkTen.P50, copy.P50),
        ResultTable.Goal("≤ 200 ms a fork", forkTen.P50 / 10 <= 200));
    table.Add("fork ×10, per fork", Latencies.Ms(forkTen.P50 / 10));

    var fromSnapshot = await MeasureAsync(async () => await CreateAsync(new { snapshot_id = snapshotId }), DeleteCreatedAsync);
    table.Add("create from snapshot", Show(fromSnapshot), baseline, ResultTable.Ratio(fromSnapshot.P50, copy.P50));
    var plain = await MeasureAsync(async () => await CreateAsync(new { }), DeleteCreatedAsync);
    table.Add("create, empty (reference)", Show(plain));
    table.Note($"node {node.DataDir}: data dir on {Filesystem(node.DataDir)}; sandboxes on the btrfs sandbox volume (loop-mounted image)");
}
catch (Exception e)
{
    table.Failed("snapshot benchmark", "", e);
    Console.Error.WriteLine(node.OutputTail());
}
finally
{
    foreach (var id in sandboxes) await http.DeleteAsync($"/v1/sandboxes/{id}");
    foreach (var id in snapshots) await http.DeleteAsync($"/v1/snapshots/{id}");
}

var report = table.ToMarkdown();
Console.WriteLine(report);
markdown ??= Path.Combine(ResultsDirectory(), $"snapshots-{DateTime.UtcNow:yyyyMMdd-HHmmss}.md");
File.WriteAllText(markdown, report);
Log($"written to {markdown}");
return table.HasErrors ? 1 : 0;

async Task<string> CreateAsync(object body)
{
    var created = await PostAsync("/v1/sandboxes", body, HttpStatusCode.Created);
    var id = JsonDocument.Parse(created).RootElement.GetProperty("id").GetString()!;
    sandboxes.Add(id);
    return id;
}

async Task DeleteCreatedAsync()
{
    var id = sandboxes[^1];
    sandboxes.RemoveAt(sandboxes.Count - 1);
    await http.DeleteAsync($"/v1/sandboxes/{id}");
}

async Task<string> SnapshotAsync(string id)
{
    var body = await PostAsync($"/v1/sandboxes/{id}/snapshots", new { }, HttpStatusCode.Created);
    snapshots.Add(JsonDocument.Parse(body).RootElement.GetProperty("id").GetString()!);
    return body;
}

async Task ForkAsync(string id, int count)
{
    var body = await PostAsync($"/v1/sandboxes/{id}/fork", new { count }, HttpStatusCode.Created);
    foreach (var fork in JsonDocument.Parse(body).RootElement.GetProperty("data").EnumerateArray())
        sandboxes.Add(fork.GetProperty("id").GetString()!);
}

async Task ExecAsync(string id, string command)
{
    var body = await PostAsync($"/v1/sandboxes/{id}/exec", new { command, timeout_seconds = 600 }, HttpStatusCode.OK);
    var exit = JsonDocument.Parse(body).RootElement.GetProperty("exit_code").GetInt32();
    if (exit != 0) throw new InvalidOperationException($"{command} exited {exit}: {body}");
}

async Task<string> PostAsync(string path, object body, HttpStatusCode expected)
{
    using var content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");
    using var response = await http.PostAsync(path, content);
    var text = await response.Content.ReadAsStringAsync();
    return response.StatusCode == expected ? text : throw new InvalidOperationException($"POST {path}: {(int)response.StatusCode} {text}");
}

async Task<(double Ms, string Body)> TimeAsync(Func<Task<string>> operation)
{
    var started = Stopwatch.GetTimestamp();
    var body = await operation();
    return (Stopwatch.GetElapsedTime(started).TotalMilliseconds, body);
}

// Each run timed alone; what it created is deleted between runs (not timed), so runs do not pile up.
async Task<Latencies> MeasureAsync(Func<Task> operation, Func<Task>? after = null)
{
    var latencies = new Latencies();
    for (var run = 0; run < repeat; run++)
    {
        var started = Stopwatch.GetTimestamp();
        await operation();
        latencies.Add(Stopwatch.GetElapsedTime(started));
        if (after is not null) await after();
        else
        {
            foreach (var id in sandboxes.Skip(2).ToList()) await http.DeleteAsync($"/v1/sandboxes/{id}");
            sandboxes.RemoveRange(2, sandboxes.Count - 2);
        }
    }
    return latencies;
}

Latencies Measure(Action operation, Action after)
{
    var latencies = new Latencies();
    for (var run = 0; run < repeat; run++)
    {
        var started = Stopwatch.GetTimestamp();
        operation();
        latencies.Add(Stopwatch.GetElapsedTime(started));
        after();
    }
    return latencies;
}

string Show(Latencies l) => $"{Latencies.Ms(l.P50)} [{Latencies.Ms(l.Percentile(100))}]";

static void Run(string program, params string[] arguments)
{
    using var process = Process.Start(program, arguments);
    process.WaitForExit();
    if (process.ExitCode != 0) throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited {process.ExitCode}");
}

static string Filesystem(string path)
{
    var info = new ProcessStartInfo("df", ["--output=fstype", path]) { RedirectStandardOutput = true };
    using var df = Process.Start(info)!;
    var text = df.StandardOutput.ReadToEnd();
    df.WaitForExit();
    return text.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault()?.Trim() ?? "?";
}

static string ResultsDirectory()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        if (Directory.Exists(Path.Combine(dir.FullName, "bench", "results"))) return Path.Combine(dir.FullName, "bench", "results");
    }
    return Directory.GetCurrentDirectory();
}

static void Log(string line) => BenchMain.Log(line);
