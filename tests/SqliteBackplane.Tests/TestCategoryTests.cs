using Xunit;

namespace SqliteBackplane.Tests;

/// <summary>The fast set (<see cref="TestCategory"/>) leaves out every test that starts processes.</summary>
public class TestCategoryTests
{
    [Fact]
    public void Every_test_class_in_the_multi_process_collection_is_left_out_of_the_fast_set()
    {
        var untagged = typeof(TestCategoryTests).Assembly.GetTypes()
            .Where(type => type.GetCustomAttributesData().Any(a =>
                a.AttributeType == typeof(CollectionAttribute) && Equals(a.ConstructorArguments[0].Value, MultiProcessCollection.Name)))
            .Where(type => !Categories(type).Contains(TestCategory.MultiProcess))
            .Select(type => type.FullName)
            .ToList();

        Assert.True(untagged.Count == 0,
            $"Add [Trait(TestCategory.Name, TestCategory.MultiProcess)] to these classes in the multi-process collection: {string.Join(", ", untagged)}.");
    }

    private static IEnumerable<string?> Categories(Type type) =>
        type.GetCustomAttributesData()
            .Where(a => a.AttributeType == typeof(TraitAttribute) && Equals(a.ConstructorArguments[0].Value, TestCategory.Name))
            .Select(a => a.ConstructorArguments[1].Value as string);
}
