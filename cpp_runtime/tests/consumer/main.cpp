#include <zoo/model.hpp>

#include <iostream>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  try {
    zoo::Model model(argv[1]);
    // a water molecule, non-periodic
    const auto r = model.compute({0.0, 0.0, 0.0, 0.96, 0.0, 0.0, -0.24, 0.93, 0.0}, {8, 1, 1});
    std::cout << "consumer: energy " << r.energy << " eV, cutoff " << model.metadata().cutoff << " A\n";
  } catch (const zoo::Error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
