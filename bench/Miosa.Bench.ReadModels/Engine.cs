using System.Data.Common;
using Microsoft.Data.Sqlite;
using Miosa.Actors.Common;
using Miosa.Actors.Hosting;
using Miosa.Actors.ReadModels;
using Npgsql;

namespace Miosa.Bench.ReadModels;

/// <summary>
/// One database the read models run on, as a node would use it: a fresh SQLite file in a temp dir
/// (WAL, as the node sets it), or a fresh schema in the given PostgreSQL database. Dropped afterwards.
/// </summary>
public sealed class Engine : IAsyncDisposable
{
    private readonly string? _sqliteDir;
    private readonly string? _adminConnectionString;
    private readonly string? _schema;

    private Engine(string name, MiosaNodeOptions options, string where, string? sqliteDir, string? adminConnectionString, string? schema)
    {
        Name = name;
        Options = options;
        Where = where;
        Database = new ReadModelDatabase(options);
        _sqliteDir = sqliteDir;
        _adminConnectionString = adminConnectionString;
        _schema = schema;
    }

    /// <summary>"SQLite" or "PostgreSQL": the prefix of every row measured on it.</summary>
    public string Name { get; }

    public MiosaNodeOptions Options { get; }

    /// <summary>Where the data lives, for the report.</summary>
    public string Where { get; }

    public ReadModelDatabase Database { get; }

    public bool IsPostgres => Options.UsesPostgres;

    /// <summary>The journal's connection string and linq2db provider, as <c>AkkaConfiguration.AddMiosaCluster</c> passes them.</summary>
    public string JournalConnectionString => Options.UsesPostgres ? Options.Database! : Options.SqliteConnectionString;

    public string JournalProvider => Options.UsesPostgres ? LinqToDB.ProviderName.PostgreSQL15 : LinqToDB.ProviderName.SQLiteMS;

    public static async Task<Engine> SqliteAsync(string? parent, CancellationToken ct)
    {
        var dir = parent is null
            ? Directory.CreateTempSubdirectory("miosa-bench-readmodels-").FullName
            : Directory.CreateDirectory(Path.Combine(parent, $"miosa-bench-readmodels-{ResourceId.RandomToken(8)}")).FullName;
        var options = new MiosaNodeOptions { DataDir = dir };
        // As Program.cs of the node: WAL lets the read journal and read models read while the journal writes.
        string version;
        await using (var connection = new SqliteConnection(options.SqliteConnectionString))
        {
            await connection.OpenAsync(ct);
            await using var pragma = connection.CreateCommand();
            pragma.CommandText = "PRAGMA journal_mode=WAL;";
            await pragma.ExecuteNonQueryAsync(ct);
            version = connection.ServerVersion;
        }
        return new Engine("SQLite", options, $"SQLite {version}, {Path.Combine(dir, "miosa.db")} ({FileSystem.Describe(dir)}), WAL", dir, null, null);
    }

    public static async Task<Engine> PostgresAsync(string connectionString, CancellationToken ct)
    {
        var schema = $"miosa_bench_{ResourceId.RandomToken(8)}";
        await using (var connection = new NpgsqlConnection(connectionString))
        {
            await connection.OpenAsync(ct);
            await using var create = connection.CreateCommand();
            create.CommandText = $"CREATE SCHEMA {schema}";
            await create.ExecuteNonQueryAsync(ct);
        }
        // Unqualified names (the journal's and the read models') resolve to the bench's own schema.
        var inSchema = new NpgsqlConnectionStringBuilder(connectionString) { SearchPath = schema };
        var options = new MiosaNodeOptions { Database = inSchema.ConnectionString };
        await using (var connection = new NpgsqlConnection(inSchema.ConnectionString))
        {
            await connection.OpenAsync(ct);
            var version = connection.PostgreSqlVersion;
            return new Engine("PostgreSQL", options, $"PostgreSQL {version} at {inSchema.Host}:{inSchema.Port}, database {inSchema.Database}, schema {schema}",
                null, connectionString, schema);
        }
    }

    /// <summary>One scalar through the read models' own connection path.</summary>
    public async Task<object?> ScalarAsync(string sql, CancellationToken ct, params (string Name, object? Value)[] parameters)
    {
        await using var connection = await Database.OpenAsync(ct);
        await using var command = ReadModelDatabase.Command(connection, sql, parameters);
        var value = await command.ExecuteScalarAsync(ct);
        return value is DBNull ? null : value;
    }

    /// <summary>The engine's plan for a query, one line (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL).</summary>
    public async Task<string> PlanAsync(string sql, CancellationToken ct, params (string Name, object? Value)[] parameters)
    {
        await using var connection = await Database.OpenAsync(ct);
        await using var command = ReadModelDatabase.Command(connection, (IsPostgres ? "EXPLAIN " : "EXPLAIN QUERY PLAN ") + sql, parameters);
        await using var reader = await command.ExecuteReaderAsync(ct);
        var lines = new List<string>();
        while (await reader.ReadAsync(ct)) lines.Add(reader.GetString(IsPostgres ? 0 : 3).Trim());
        return string.Join("; ", lines);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_sqliteDir is not null)
            {
                SqliteConnection.ClearAllPools();
                Directory.Delete(_sqliteDir, recursive: true);
            }
            else if (_adminConnectionString is not null)
            {
                NpgsqlConnection.ClearAllPools();
                await using var connection = new NpgsqlConnection(_adminConnectionString);
                await connection.OpenAsync();
                await using var drop = connection.CreateCommand();
                drop.CommandText = $"DROP SCHEMA {_schema} CASCADE";
                drop.CommandTimeout = 300;
                await drop.ExecuteNonQueryAsync();
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or DbException)
        {
            Console.Error.WriteLine($"bench: could not remove {Where}: {e.Message}");
        }
    }
}

/// <summary>Which file system a directory is on, from /proc/self/mounts (the longest mount point above it).</summary>
public static class FileSystem
{
    public static string Describe(string dir)
    {
        try
        {
            var best = File.ReadAllLines("/proc/self/mounts")
                .Select(l => l.Split(' '))
                .Where(f => f.Length > 2 && (dir == f[1] || dir.StartsWith(f[1].TrimEnd('/') + "/", StringComparison.Ordinal)))
                .MaxBy(f => f[1].Length);
            return best is null ? "file system unknown" : $"{best[2]} on {best[0]}";
        }
        catch (IOException)
        {
            return "file system unknown";
        }
    }
}
